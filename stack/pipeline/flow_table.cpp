#include "stack/pipeline/flow_table.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

namespace redline::pipeline {

rte_hash* create_lock_free_hash(const std::string& name, uint32_t entries, uint32_t key_len, int socket, rte_rcu_qsbr* qsbr,
                                uint32_t extra_flags, std::string* error) {
  rte_hash_parameters params{};
  params.name = name.c_str();
  params.entries = entries;
  params.key_len = key_len;
  params.hash_func = rte_hash_crc;
  params.socket_id = socket;
  params.extra_flag = uint8_t(RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | extra_flags);
  rte_hash* h = rte_hash_create(&params);
  if (!h) {
    *error = "rte_hash_create(" + name + ", " + std::to_string(entries) + " entries) failed: " + rte_strerror(rte_errno);
    return nullptr;
  }
  if (qsbr) {
    rte_hash_rcu_config rcu{};
    rcu.v = qsbr;
    rcu.mode = RTE_HASH_QSBR_MODE_DQ;
    if (rte_hash_rcu_qsbr_add(h, &rcu) != 0) {
      *error = "rte_hash_rcu_qsbr_add(" + name + ") failed: " + rte_strerror(rte_errno);
      rte_hash_free(h);
      return nullptr;
    }
  }
  return h;
}

std::unique_ptr<FlowTable> FlowTable::create(const std::string& name, uint32_t capacity, int socket, rte_rcu_qsbr* qsbr,
                                             std::string* error) {
  // Slots for half again the capacity: a cuckoo table near full spends its adds displacing
  // keys (measured: a session table at 75% of its slots made new sessions 2x dearer). The
  // overflow table (EXT_TABLE) takes what the buckets cannot place, so a table always fills to
  // its capacity rather than failing early.
  const uint32_t entries = std::max<uint32_t>(uint32_t(std::min<uint64_t>(uint64_t(capacity) * 3 / 2, 1u << 31)), 64);
  rte_hash* h = create_lock_free_hash(name, entries, sizeof(net::FiveTuple), socket, qsbr, RTE_HASH_EXTRA_FLAGS_EXT_TABLE, error);
  if (!h) return nullptr;
  return std::unique_ptr<FlowTable>(new FlowTable(h, qsbr != nullptr));
}

FlowTable::~FlowTable() { rte_hash_free(hash_); }

namespace {
// The table's hash (rte_hash_crc, as set at creation) computed inline: through the table's
// function pointer it is a call per key, for two CRC32 instructions (16-byte keys).
hash_sig_t signature(const net::FiveTuple& key) { return rte_hash_crc(&key, sizeof key, 0); }
}  // namespace

bool FlowTable::add(const net::FiveTuple& key, void* data) {
  return rte_hash_add_key_with_hash_data(hash_, &key, signature(key), data) == 0;
}

bool FlowTable::remove(const net::FiveTuple& key) {
  const int32_t pos = rte_hash_del_key_with_hash(hash_, &key, signature(key));
  if (pos < 0) return false;
  // Lock-free mode keeps a deleted slot reserved until it is freed: by the RCU defer queue
  // after a grace period, or here at once when no other thread reads.
  if (!rcu_) rte_hash_free_key_with_position(hash_, pos);
  return true;
}

void* FlowTable::find(const net::FiveTuple& key) const {
  void* data = nullptr;
  return rte_hash_lookup_with_hash_data(hash_, &key, signature(key), &data) >= 0 ? data : nullptr;
}

uint64_t FlowTable::find_bulk(const net::FiveTuple* keys, uint32_t n, void** data) const {
  uint64_t hits = 0;
  if (n == 0) return 0;
  const void* k[kBulkMax];
  hash_sig_t sig[kBulkMax];
  for (uint32_t i = 0; i < n; ++i) {
    k[i] = &keys[i];
    sig[i] = signature(keys[i]);
  }
  rte_hash_lookup_with_hash_bulk_data(hash_, k, sig, n, &hits, data);
  return hits;
}

}  // namespace redline::pipeline
