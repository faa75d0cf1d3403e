// A per-core table keyed by a flow's 5-tuple: NAT sessions and mappings now, TCP connections
// and load-balancer flows later. rte_hash (DESIGN.md: no second hash table for the data path)
// with one writer, the owning core, and lock-free readers, so other cores and the control
// thread may look up and count while the owner writes; freed key slots are recycled after an
// RCU grace period (rte_hash_rcu_qsbr_add) so no reader ever sees a slot reused under it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "stack/net/five_tuple.hpp"

struct rte_hash;
struct rte_rcu_qsbr;

namespace redline::pipeline {

// An rte_hash with one writer and lock-free readers (RW_CONCURRENCY_LF plus `extra_flags`),
// whose deleted slots are recycled after an RCU grace period on `qsbr` (null: the caller frees
// them at once with rte_hash_free_key_with_position). Null with `error` set on failure. Shared
// by every table that other threads read while its owner writes (flows, neighbors).
rte_hash* create_lock_free_hash(const std::string& name, uint32_t entries, uint32_t key_len, int socket, rte_rcu_qsbr* qsbr,
                                uint32_t extra_flags, std::string* error);

class FlowTable {
 public:
  static constexpr uint32_t kBulkMax = 64;  // RTE_HASH_LOOKUP_BULK_MAX

  // `name` must be unique in the process. `qsbr` may be null when no other thread ever reads
  // (tests, tools): slots are then recycled at once.
  static std::unique_ptr<FlowTable> create(const std::string& name, uint32_t capacity, int socket, rte_rcu_qsbr* qsbr,
                                           std::string* error);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // False when the table is full (or the key's buckets are: rte_hash is a cuckoo table with an
  // overflow table; either way the caller refuses the new flow).
  bool add(const net::FiveTuple& key, void* data);
  bool remove(const net::FiveTuple& key);
  void* find(const net::FiveTuple& key) const;
  // Looks up keys[0..n) (n <= kBulkMax); returns the hit mask, data[i] set for each hit.
  uint64_t find_bulk(const net::FiveTuple* keys, uint32_t n, void** data) const;

 private:
  FlowTable(rte_hash* h, bool rcu) : hash_(h), rcu_(rcu) {}
  rte_hash* hash_;
  bool rcu_;
};

}  // namespace redline::pipeline
