// RFC 6888's limits per inside host and port-block allocation, and the allocation log's records
// (nat_log.hpp). Cold: run when a mapping is made or ends, never per packet.
//
// A host's entry lives on its home worker (home_of) from its first mapping to the end of its
// last. With blocks on, its mappings' ports come from blocks of `block_size` ports it holds
// alone on an external address: the first mapping there takes a block (one log line), later ones
// take ports of it, the next block comes when it is full, and a block goes back when its last
// port does (one more line). A block is an aligned stretch of the worker's share of the range,
// so its ports' replies reach this worker by the share's owner rule even where the NIC's hash
// sends them elsewhere (PortShare::owner_of); inside a block, the picker still prefers ports
// whose replies the NIC sends here.
#include "stack/nat/nat_stage.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::nat {

using net::Counter;

uint32_t NatStage::home_of(uint32_t ip_be) const {
  return uint32_t((uint64_t(NatRules::mix(ip_be)) * workers_) >> 32);
}

uint32_t NatStage::host_of(uint32_t ip_be) {
  if (const auto it = host_index_.find(ip_be); it != host_index_.end()) return it->second;
  uint32_t hi;
  if (!free_hosts_.empty()) {
    hi = free_hosts_.back();
    free_hosts_.pop_back();
  } else {
    // As many hosts as mappings at most: a host's entry lives while it holds one.
    if (hosts_.size() >= mapping_pool_.size()) return kNoIndex;
    hi = uint32_t(hosts_.size());
    hosts_.emplace_back();
  }
  hosts_[hi] = Host{ip_be, 0, 0, 0, kNoIndex};
  host_index_.emplace(ip_be, hi);
  return hi;
}

void NatStage::forget_if_idle(uint32_t hi) {
  const Host& h = hosts_[hi];
  if (h.sessions || h.mappings || h.first_block != kNoIndex) return;
  host_index_.erase(h.ip_be);
  free_hosts_.push_back(hi);
}

uint16_t NatStage::block_port(uint32_t hi, Shares& sh, uint8_t protocol, const FiveTuple& reply, uint32_t mi,
                              uint32_t* block, Counter* why) {
  const uint32_t size = limits_.block_size;
  PortShare& ps = *sh.of[protocol_slot(protocol)];
  auto take_in = [&](uint32_t bi) -> uint16_t {
    PortBlock& pb = blocks_[bi];
    const PortRange window{pb.first, uint16_t(pb.first + size - 1)};
    const endpoint::Picked p =
        w_.local_ports().pick(ps, mi, reply, endpoint::Fallback::kAnyFree, [](uint16_t) { return true; }, &window);
    if (!p.port) return 0;
    ++pb.used;
    *block = bi;
    return p.port;
  };
  for (uint32_t bi = hosts_[hi].first_block; bi != kNoIndex; bi = blocks_[bi].next)
    if (blocks_[bi].external_ip == sh.ip_be && blocks_[bi].protocol == protocol && blocks_[bi].used < size)
      if (const uint16_t port = take_in(bi)) return port;
  // Every block it holds there is full: one more, if the host may hold it (RFC 6888 REQ-3).
  if (limits_.ports && hosts_[hi].ports + size > limits_.ports) {
    *why = Counter::nat_refused_host_ports;
    return 0;
  }
  const uint32_t bi = allocate_block(hi, sh, protocol);
  if (bi == kNoIndex) {
    *why = Counter::nat_refused_no_port;
    return 0;
  }
  if (const uint16_t port = take_in(bi)) return port;
  free_block(bi);  // every port of it a DNAT rule holds
  *why = Counter::nat_refused_no_port;
  return 0;
}

void NatStage::free_block(uint32_t bi) {
  const PortBlock pb = blocks_[bi];
  const uint32_t size = limits_.block_size;
  Host& h = hosts_[pb.host];
  Shares& sh = shares_of(pb.external_ip);
  const size_t slot = protocol_slot(pb.protocol);
  sh.block_owner[slot][(pb.first - sh.of[slot]->first()) / size] = kNoIndex;
  for (uint32_t* link = &h.first_block; *link != kNoIndex; link = &blocks_[*link].next)
    if (*link == bi) {
      *link = pb.next;
      break;
    }
  h.ports -= size;
  free_blocks_.push_back(bi);
  w_.count(Counter::nat_port_blocks_released);
  log_event(LogEvent::kBlockReleased, pb.protocol, h.ip_be, 0, pb.external_ip, pb.first, uint16_t(pb.first + size - 1));
}

uint32_t NatStage::allocate_block(uint32_t hi, Shares& sh, uint8_t protocol) {
  const size_t slot = protocol_slot(protocol);
  const PortShare& ps = *sh.of[slot];
  const uint32_t size = limits_.block_size;
  std::vector<uint32_t>& owner = sh.block_owner[slot];
  // The share's ports past its last whole block are never given out with blocks on.
  if (owner.empty()) owner.assign(ps.size() / size, kNoIndex);
  const uint32_t count = uint32_t(owner.size());
  uint32_t& cursor = sh.block_cursor[slot];
  for (uint32_t n = 0; n < count; ++n) {
    const uint32_t k = (cursor + n) % count;
    if (owner[k] != kNoIndex) continue;
    uint32_t bi;
    if (!free_blocks_.empty()) {
      bi = free_blocks_.back();
      free_blocks_.pop_back();
    } else {
      bi = uint32_t(blocks_.size());
      blocks_.emplace_back();
    }
    Host& h = hosts_[hi];
    blocks_[bi] = PortBlock{sh.ip_be, uint16_t(ps.first() + k * size), 0, protocol, hi, h.first_block};
    h.first_block = bi;
    h.ports += size;
    owner[k] = bi;
    cursor = (k + 1) % count;
    w_.count(Counter::nat_port_blocks_allocated);
    const PortBlock& pb = blocks_[bi];
    log_event(LogEvent::kBlockAllocated, protocol, h.ip_be, 0, sh.ip_be, pb.first, uint16_t(pb.first + size - 1));
    return bi;
  }
  return kNoIndex;
}

void NatStage::release_host_port(const Mapping& mp) {
  const uint16_t port = net::to_be(mp.external_port);
  if (mp.block == kNoIndex)
    log_event(LogEvent::kPortReleased, mp.key.protocol, mp.key.src_ip, mp.key.src_port, mp.external_ip, port, port);
  if (mp.host == kNoIndex) return;
  Host& h = hosts_[mp.host];
  --h.mappings;
  if (mp.block == kNoIndex) {
    --h.ports;
  } else if (--blocks_[mp.block].used == 0) {
    free_block(mp.block);  // its last port: the block goes back to the share
  }
  forget_if_idle(mp.host);
}

void NatStage::log_event(LogEvent e, uint8_t protocol, uint32_t inside_ip, uint16_t inside_port_be, uint32_t outside_ip,
                         uint16_t first_port, uint16_t last_port) {
  if (!log_) return;
  const LogRecord r{wall_clock_ns(), inside_ip, outside_ip, net::to_be(inside_port_be), first_port, last_port, protocol, e};
  if (!log_->push(r)) w_.count(Counter::nat_log_dropped);
}

}  // namespace redline::nat
