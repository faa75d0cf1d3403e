#include "stack/arp/neighbor_table.hpp"

#include "stack/pipeline/flow_table.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_rcu_qsbr.h>

#include <cstring>

namespace redline::arp {

namespace {
using Key = uint32_t;  // IPv4 address, host order
static_assert(sizeof(Key) == 4 && std::is_trivially_copyable_v<Key>);

// Packs MAC (48 bits) and port (16 bits) into the one word rte_hash stores per key. Never zero:
// we refuse to learn the all-zero MAC, and the unreachable marker has port 0xffff.
uintptr_t pack(const Neighbor& n) {
  uint64_t v = 0;
  for (int i = 0; i < 6; ++i) v = (v << 8) | n.mac.bytes[i];
  return uintptr_t((v << 16) | n.port);
}
Neighbor unpack(uintptr_t word) {
  uint64_t v = word;
  Neighbor n;
  n.port = uint16_t(v & 0xffff);
  v >>= 16;
  for (int i = 5; i >= 0; --i, v >>= 8) n.mac.bytes[i] = uint8_t(v & 0xff);
  return n;
}
}  // namespace

std::unique_ptr<NeighborTable> NeighborTable::create(const std::string& name, uint32_t capacity,
                                                     int socket, rte_rcu_qsbr* qsbr,
                                                     std::string* error) {
  // One writer (the ARP owner core), lock-free readers.
  rte_hash* h = pipeline::create_lock_free_hash(name, capacity, sizeof(Key), socket, qsbr, 0, error);
  if (!h) return nullptr;
  return std::unique_ptr<NeighborTable>(new NeighborTable(h, capacity, qsbr != nullptr));
}

NeighborTable::~NeighborTable() { rte_hash_free(hash_); }

std::optional<Neighbor> NeighborTable::lookup(net::Ipv4Addr ip) const {
  Key key = ip.value;
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &key, &data) < 0) return std::nullopt;
  return unpack(uintptr_t(data));
}

uint64_t NeighborTable::lookup_bulk(const net::Ipv4Addr* ips, uint32_t n, Neighbor* out) const {
  static_assert(sizeof(net::Ipv4Addr) == sizeof(Key));
  const void* keys[kBulkMax];
  void* data[kBulkMax];
  for (uint32_t i = 0; i < n; ++i) keys[i] = &ips[i].value;
  uint64_t hits = 0;
  if (rte_hash_lookup_bulk_data(hash_, keys, n, &hits, data) <= 0) return 0;
  for (uint64_t m = hits; m; m &= m - 1) {
    int i = __builtin_ctzll(m);
    out[i] = unpack(uintptr_t(data[i]));
  }
  return hits;
}

uint32_t NeighborTable::count() const {
  const int32_t n = rte_hash_count(hash_);
  return n > 0 ? uint32_t(n) : 0;
}

std::vector<std::pair<net::Ipv4Addr, Neighbor>> NeighborTable::list() const {
  std::vector<std::pair<net::Ipv4Addr, Neighbor>> out;
  const void* key;
  void* data;
  uint32_t next = 0;
  while (rte_hash_iterate(hash_, &key, &data, &next) >= 0) {
    Key k;
    std::memcpy(&k, key, sizeof k);
    out.emplace_back(net::Ipv4Addr{k}, unpack(uintptr_t(data)));
  }
  return out;
}

bool NeighborTable::publish(net::Ipv4Addr ip, const Neighbor& n) {
  Key key = ip.value;
  // In lock-free mode an update of an existing key stores the new data word atomically.
  return rte_hash_add_key_data(hash_, &key, reinterpret_cast<void*>(pack(n))) == 0;
}

NeighborTable::Learn NeighborTable::learn(net::Ipv4Addr ip, const Neighbor& n) {
  if (n.mac.is_zero() || n.mac.is_multicast() || n.unreachable()) return Learn::kUnchanged;
  auto it = meta_.find(ip.value);
  if (it == meta_.end()) {
    if (meta_.size() >= capacity_ || !publish(ip, n)) return Learn::kFull;
    meta_.emplace(ip.value, n);
    return Learn::kCreated;
  }
  if (it->second.mac == n.mac && it->second.port == n.port) return Learn::kUnchanged;
  it->second = n;
  publish(ip, n);
  return Learn::kUpdated;
}

bool NeighborTable::merge(net::Ipv4Addr ip, const Neighbor& n) {
  if (meta_.find(ip.value) == meta_.end()) return false;
  learn(ip, n);
  return true;
}

bool NeighborTable::mark_unreachable(net::Ipv4Addr ip) {
  const Neighbor n{net::MacAddr{}, Neighbor::kUnreachablePort};
  auto it = meta_.find(ip.value);
  if (it == meta_.end()) {
    if (meta_.size() >= capacity_ || !publish(ip, n)) return false;
    meta_.emplace(ip.value, n);
    return true;
  }
  it->second = n;
  return publish(ip, n);
}

void NeighborTable::remove(net::Ipv4Addr ip) {
  if (meta_.erase(ip.value) == 0) return;
  Key key = ip.value;
  int32_t pos = rte_hash_del_key(hash_, &key);
  // In lock-free mode without RCU the slot stays reserved until freed explicitly; with RCU the
  // hash library frees it after the grace period.
  if (pos >= 0 && !rcu_) rte_hash_free_key_with_position(hash_, pos);
}

}  // namespace redline::arp
