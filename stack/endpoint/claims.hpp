// One owner per local endpoint, checked where a config is read: every part of redline that
// takes (address, protocol, port) for itself says so as a Claim, and two claims of different
// owners on the same endpoint make the config invalid, with both keys named.
//
// The problem: the NAT's outside port ranges, its DNAT rules, TCP and UDP services listening
// on every address, TCP's ephemeral ports for connect, and the kernel exception path's pass
// rules all want ports of the same addresses. Overlaps fail quietly at run time: the NAT takes
// an inbound packet on a port of its range for a mapping and drops it when there is none, so a
// service or a connect() on an outside address never hears its answers (issue 21, defect 3).
// Alternatives: a run-time registry every claim goes through (the design's end point: NAT port
// shares and TCP's steered picker drawing from one table), or refusing conflicting configs at
// load. This is the second, and the table of claims it builds is the one a run-time registry
// will hold; the dynamic claims (a connect's port, a mapping's port) already fall inside ranges
// claimed here, so they cannot conflict once the config is valid.
//
// Pure: no DPDK, no TOML; the config reader turns each claim's index back into its key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace redline::endpoint {

// Where a claim holds: every local address, or only the NAT's outside addresses.
enum class Scope : uint8_t { kAllAddresses, kNatOutside };

// Who claims: claims of one family do not conflict with each other (a DNAT rule's port lies in
// the NAT's range by design; a service's TCP and UDP echo are one service).
enum class Family : uint8_t { kNat, kService, kTcpConnect, kKernel };

struct Claim {
  uint8_t protocol = 6;  // 6 TCP, 17 UDP
  uint16_t low = 0, high = 0;
  Scope scope = Scope::kAllAddresses;
  Family family = Family::kService;
  std::string owner;  // the config key, for the error ("services.echo", "nat.ports.tcp")
};

// The first pair of claims that conflict (indices into `claims`, the later one first), if any.
inline std::optional<std::pair<size_t, size_t>> first_conflict(const std::vector<Claim>& claims) {
  for (size_t j = 0; j < claims.size(); ++j)
    for (size_t i = 0; i < j; ++i) {
      const Claim& a = claims[i];
      const Claim& b = claims[j];
      // Scopes always meet: kNatOutside addresses are among all addresses.
      if (a.family != b.family && a.protocol == b.protocol && a.low <= b.high && b.low <= a.high) return {{j, i}};
    }
  return std::nullopt;
}

inline std::string describe(const Claim& c) {
  std::string ports = c.low == c.high ? "port " + std::to_string(c.low)
                                      : "ports " + std::to_string(c.low) + "-" + std::to_string(c.high);
  return ports + (c.protocol == 6 ? " (TCP)" : " (UDP)") +
         (c.scope == Scope::kNatOutside ? " on the NAT's outside addresses" : " on every address");
}

}  // namespace redline::endpoint
