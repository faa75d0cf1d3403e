// One worker's registry of local ports at run time, and the one picker that hands them out.
//
// Problem: several parts of redline take local ports while running: the NAT a port per mapping
// on an external address, TCP a port per connect() on a source address, listeners and UDP
// binds a port on every address, and the session engine, virtual services and health checks to
// come. Each must get a port no other part holds, and a port whose replies the NIC's RSS sends
// back to the worker that took it (port_steering.hpp).
//
// Alternatives: each part keeps its own allocator and its own steering loop (what redline had:
// the NAT's port shares and TCP's scan of its ephemeral range, which overlapped, so the NAT took
// the replies of TCP's connects on outside addresses); one registry shared by every core (a lock
// or atomics on every new session). Choice: one registry per worker, no sharing. It holds the
// config's fixed claims (claims.hpp; checked for conflicts at load) and one PortShare per
// (address, protocol, owner family); every dynamic port is taken by pick(), which steers by
// the reply's RSS hash and never takes a port a fixed claim of another family holds. Workers
// never hand out the same port: NAT shares are disjoint blocks per worker (a port names the
// worker, PortShare::owner_of), and a connection's port is only ever shared between workers
// for different remotes, whose replies the 4-tuple's hash keeps apart.
//
// Pure: no DPDK, so the tests and fuzz targets use the same picker as the workers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "stack/endpoint/claims.hpp"
#include "stack/endpoint/port_share.hpp"
#include "stack/net/five_tuple.hpp"
#include "stack/net/types.hpp"
#include "stack/rss/hash_input.hpp"
#include "stack/rss/port_steering.hpp"
#include "stack/rss/reta.hpp"
#include "stack/rss/toeplitz.hpp"

namespace redline::endpoint {

// Where the NIC sends a reply: what the picker needs to predict it.
struct Steering {
  const rss::Toeplitz* toeplitz = nullptr;  // null: every reply reaches this worker
  const rss::RetaMirror* reta = nullptr;
  rss::HashFields fields;
  uint32_t worker = 0;
  uint32_t workers = 1;
};

// What pick() does when no free port in its budget steers to this worker.
enum class Fallback : uint8_t {
  kAnyFree,      // take a free port anyway: its replies reach another worker, which hands them
                 // over (the NAT: PortShare::owner_of names the worker)
  kSteeredOnly,  // take none (a connection: its segments are never handed between workers)
};

struct Picked {
  uint16_t port = 0;                // 0: none
  bool steered = false;             // its replies reach this worker
  bool refused_by_claim = false;    // none left, and some of the range a fixed claim holds
};

class LocalPorts {
 public:
  // Free ports tried for steering per pick: with W workers, about W are needed on average, and
  // 64 fail to find one about (1 - 1/W)^64 of the time (under 1e-8 for 4 workers).
  static constexpr uint32_t kSteeringBudget = 64;

  // `claims`: the config's fixed claims; `nat_outside_be`: the addresses where kNatOutside
  // claims hold (network byte order).
  LocalPorts(std::vector<Claim> claims, std::vector<uint32_t> nat_outside_be, Steering steering)
      : claims_(std::move(claims)), nat_outside_(std::move(nat_outside_be)), steering_(steering) {}

  // The fixed claim of another family holding `port` on `ip_be` (0: on every address, as a
  // listener or a UDP bind asks), or null.
  const Claim* held_by_other(uint32_t ip_be, uint8_t protocol, uint16_t port, Family family) const;

  // This worker's share of `range` on `ip_be` for `protocol`, taken by `family`, made on first
  // use. The NAT's is this worker's block of the range (one per worker, PortShare::owner_of);
  // any other family's is the whole range (a connection's replies find it by their 4-tuple).
  // Ports a fixed claim of another family holds on `ip_be` are reserved in it at once, so the
  // picker never offers them and pays nothing per port for the claims.
  PortShare& share(uint32_t ip_be, uint8_t protocol, Family family, PortRange range);
  // The share made earlier, or null.
  PortShare* find_share(uint32_t ip_be, uint8_t protocol, Family family);

  // The picker: takes a free port of `s` for `holder` whose replies (`reply`: the tuple as
  // replies arrive, from the remote to us; its dst_port is ignored) reach this worker, that no
  // fixed claim of another family holds, and that `usable` accepts; `within`: only of that range
  // (a NAT port block).
  template <typename Usable>
  Picked pick(PortShare& s, uint32_t holder, const net::FiveTuple& reply, Fallback fallback, Usable&& usable,
              const PortRange* within = nullptr);

  // A connection's local port (TCP connect, later UDP connect): a port of `range` on `local_be`
  // whose replies from remote_be:remote_port_be reach this worker (network byte order), steered
  // or none. Given back by release_connection_port.
  template <typename Usable>
  Picked take_for_connection(uint8_t protocol, uint32_t local_be, uint32_t remote_be, uint16_t remote_port_be,
                             PortRange range, Usable&& usable) {
    net::FiveTuple reply;
    reply.src_ip = remote_be;
    reply.dst_ip = local_be;
    reply.src_port = remote_port_be;
    reply.protocol = protocol;
    return pick(share(local_be, protocol, Family::kTcpConnect, range), 0, reply, Fallback::kSteeredOnly, usable);
  }
  void release_connection_port(uint8_t protocol, uint32_t local_be, uint16_t port) {
    if (PortShare* s = find_share(local_be, protocol, Family::kTcpConnect)) s->release(port);
  }

 private:
  struct Held {
    uint32_t ip_be;
    uint8_t protocol;
    Family family;
    uint32_t reserved_for_claims;  // ports a fixed claim of another family holds: never offered
    std::unique_ptr<PortShare> share;
  };
  const Held* held_for(const PortShare& s) const;

  std::vector<Claim> claims_;
  std::vector<uint32_t> nat_outside_;
  Steering steering_;
  std::vector<Held> held_;
};

template <typename Usable>
Picked LocalPorts::pick(PortShare& s, uint32_t holder, const net::FiveTuple& reply, Fallback fallback, Usable&& usable,
                        const PortRange* within) {
  Picked out;
  std::optional<rss::ReplySteering> steer;
  if (steering_.toeplitz && steering_.workers > 1) {
    steer.emplace(*steering_.toeplitz, *steering_.reta, steering_.fields, reply);
    // The NIC hashes no ports for this protocol: no choice of port moves the replies.
    if (!steer->port_matters() && steer->owner(0) != steering_.worker && fallback == Fallback::kSteeredOnly) return out;
  }
  const uint32_t me = steering_.worker;
  auto wanted = [&](uint16_t port) { return (!steer || steer->owner(net::to_be(port)) == me) && usable(port); };
  auto refuse = [](uint16_t) { return false; };
  const std::optional<uint16_t> p = fallback == Fallback::kAnyFree
                                        ? s.pick(holder, wanted, usable, kSteeringBudget, &out.steered, within)
                                        : s.pick(holder, wanted, refuse, kSteeringBudget, &out.steered, within);
  if (p) out.port = *p;
  // None left, and some were never offered: another part's fixed claim holds them.
  else if (const Held* h = held_for(s)) out.refused_by_claim = h->reserved_for_claims > 0;
  return out;
}

}  // namespace redline::endpoint
