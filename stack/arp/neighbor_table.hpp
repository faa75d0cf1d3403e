// The neighbor (ARP) table: IPv4 next hop -> MAC and port.
//
// Problem: every worker needs the MAC of a next hop for every forwarded packet, and answers
// arrive at one place. Alternatives: a copy per core (N writes per update, N tables to age), a
// locked map (readers stall), or one table written by one core and read lock-free by all.
// Choice: the last, on rte_hash with RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF. The whole answer
// (MAC + port) is packed into the 64-bit data word, which rte_hash publishes atomically, so a
// reader sees either the old or the new neighbor, never a torn one. Deleted key slots are
// recycled only after every worker has passed a quiescent state (rte_hash_rcu_qsbr_add).
// The owner core (worker 0) keeps the entries' bookkeeping in a private map; when to re-check
// an entry is neighbor_aging.hpp's business.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "stack/net/types.hpp"

struct rte_hash;
struct rte_rcu_qsbr;

namespace redline::arp {

struct Neighbor {
  // A next hop that did not answer ARP: held for a while so that packets to it are refused at
  // once (host unreachable) instead of each starting another resolution.
  static constexpr uint16_t kUnreachablePort = 0xffff;

  net::MacAddr mac;
  uint16_t port = 0;  // index into the application's port list
  bool unreachable() const { return port == kUnreachablePort; }
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
  // Every entry, read while the owner may write (the caller is an online QSBR reader, so no
  // slot it reads is reused under it).
  std::vector<std::pair<net::Ipv4Addr, Neighbor>> list() const;
  // Entries in the table (unreachable ones included), read from any thread (the metrics).
  uint32_t count() const;

  // --- owner core only ---
  enum class Learn { kCreated, kUpdated, kUnchanged, kFull };
  // Creates or confirms an entry (a reply or request naming us as target).
  Learn learn(net::Ipv4Addr ip, const Neighbor& n);
  // RFC 826 merge step: updates an entry only if one exists. Returns true if it did.
  bool merge(net::Ipv4Addr ip, const Neighbor& n);
  // Publishes `ip` as unreachable (Neighbor::unreachable()); false if the table is full.
  bool mark_unreachable(net::Ipv4Addr ip);
  void remove(net::Ipv4Addr ip);
  size_t size() const { return meta_.size(); }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [ip, n] : meta_) fn(net::Ipv4Addr{ip}, n);
  }
  uint32_t capacity() const { return capacity_; }

 private:
  NeighborTable(rte_hash* h, uint32_t capacity, bool rcu) : hash_(h), capacity_(capacity), rcu_(rcu) {}
  bool publish(net::Ipv4Addr ip, const Neighbor& n);

  rte_hash* hash_;
  uint32_t capacity_;
  bool rcu_;  // key slots are reclaimed by RCU; without it, freed at once
  std::unordered_map<uint32_t, Neighbor> meta_;  // what is published, for the owner's reads
};

}  // namespace redline::arp
