// The neighbor (ARP) table: IPv4 next hop -> MAC and port.
//
// Problem: every worker needs the MAC of a next hop for every forwarded packet, and answers
// arrive at one place. Alternatives: a copy per core (N writes per update, N tables to age), a
// locked map (readers stall), or one table written by one core and read lock-free by all.
// Choice: the last, on rte_hash with RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF. The whole answer
// (MAC + port) is packed into the 64-bit data word, which rte_hash publishes atomically, so a
// reader sees either the old or the new neighbor, never a torn one. Deleted key slots are
// recycled only after every worker has passed a quiescent state (rte_hash_rcu_qsbr_add).
// The owner core (worker 0) keeps the aging bookkeeping in a private map.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "stack/net/types.hpp"

struct rte_hash;
struct rte_rcu_qsbr;

namespace redline::arp {

struct Neighbor {
  net::MacAddr mac;
  uint16_t port = 0;  // index into the application's port list
};

struct AgingPolicy {
  uint64_t reachable_ns = 300'000'000'000;  // confirmed entries are trusted this long
  uint64_t probe_interval_ns = 1'000'000'000;
  uint32_t probes = 3;  // refresh requests before the entry is removed
};

class NeighborTable {
 public:
  static constexpr uint32_t kBulkMax = 32;

  // `qsbr` may be null when only one thread ever touches the table (tests).
  static std::unique_ptr<NeighborTable> create(const std::string& name, uint32_t capacity,
                                               int socket, rte_rcu_qsbr* qsbr, std::string* error);
  ~NeighborTable();
  NeighborTable(const NeighborTable&) = delete;
  NeighborTable& operator=(const NeighborTable&) = delete;

  // --- any core, lock-free ---
  std::optional<Neighbor> lookup(net::Ipv4Addr ip) const;
  // Looks up n <= kBulkMax addresses; bit i of the result is set when ips[i] was found.
  uint64_t lookup_bulk(const net::Ipv4Addr* ips, uint32_t n, Neighbor* out) const;

  // --- owner core only ---
  enum class Learn { kCreated, kUpdated, kUnchanged, kFull };
  // Creates or confirms an entry (a reply or request naming us as target).
  Learn learn(net::Ipv4Addr ip, const Neighbor& n, uint64_t now_ns);
  // RFC 826 merge step: updates an entry only if one exists. Returns true if it did.
  bool merge(net::Ipv4Addr ip, const Neighbor& n, uint64_t now_ns);
  void remove(net::Ipv4Addr ip);
  // Entries past `reachable_ns` are probed (send_probe(ip, neighbor)) every probe interval; one
  // that stays silent for `probes` requests is removed.
  template <typename SendProbe>
  void age(uint64_t now_ns, const AgingPolicy& policy, SendProbe&& send_probe);
  size_t size() const { return meta_.size(); }
  uint32_t capacity() const { return capacity_; }

 private:
  NeighborTable(rte_hash* h, uint32_t capacity, bool rcu) : hash_(h), capacity_(capacity), rcu_(rcu) {}
  bool publish(net::Ipv4Addr ip, const Neighbor& n);

  struct Meta {
    Neighbor neighbor;
    uint64_t confirmed_ns = 0;
    uint64_t next_probe_ns = 0;
    uint32_t probes_sent = 0;
  };

  rte_hash* hash_;
  uint32_t capacity_;
  bool rcu_;  // key slots are reclaimed by RCU; without it, freed at once
  std::unordered_map<uint32_t, Meta> meta_;
};

template <typename SendProbe>
void NeighborTable::age(uint64_t now_ns, const AgingPolicy& policy, SendProbe&& send_probe) {
  for (auto it = meta_.begin(); it != meta_.end();) {
    Meta& m = it->second;
    net::Ipv4Addr ip{it->first};
    if (now_ns - m.confirmed_ns < policy.reachable_ns || now_ns < m.next_probe_ns) {
      ++it;
      continue;
    }
    if (m.probes_sent >= policy.probes) {
      ++it;
      remove(ip);  // erases from meta_; `it` already moved on
      continue;
    }
    ++m.probes_sent;
    m.next_probe_ns = now_ns + policy.probe_interval_ns;
    send_probe(ip, m.neighbor);
    ++it;
  }
}

}  // namespace redline::arp
