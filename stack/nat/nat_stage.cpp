// The NAT stage's fast path: bulk lookup of every packet's tuple, in-place rewrite of the hits
// with the session's precomputed checksum deltas (rewrite.hpp). Everything else is in
// nat_sessions.cpp, in cold code.
#include "stack/nat/nat_stage.hpp"

#include <rte_mbuf.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>

#include <stdexcept>

#include "stack/pipeline/worker.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::nat {

using net::Counter;
using pipeline::kBurstSlots;

void NatStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  if (const NatRules* r = nat_.rules.load(std::memory_order_acquire); r != rules_seen_) [[unlikely]]
    resync_dnat(*r);
  pipeline::Scratch<FiveTuple, kBurstSlots> keys;
  uint8_t slots[kBurstSlots];
  uint32_t m = 0;
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    const pipeline::PacketMeta& pm = b.meta[slot];
    const uint8_t* frame = rte_pktmbuf_mtod(b.pkts[slot], const uint8_t*);
    const uint8_t* ip = frame + pm.l3_offset;
    const uint8_t* l4 = frame + pm.l4_offset;
    const uint8_t proto = ip[wire::ipv4::kProtocol];
    const uint32_t l4_len = wire::load16(ip, wire::ipv4::kTotalLength) - uint32_t(pm.l4_offset - pm.l3_offset);
    if (ip[wire::ipv4::kTtl] <= 1) [[unlikely]] {
      // It will not be forwarded: the route stage answers time exceeded (traceroute's first hop)
      // to the source as it is, or delivers it to us. Translating it would send the error to
      // our own external address.
      b.to(slot, proceed);
      continue;
    }
    if (wire::load16(ip, wire::ipv4::kFlagsFragment) & (wire::ipv4::kFlagMoreFragments | wire::ipv4::kFragmentOffsetMask))
        [[unlikely]] {
      fragment(b, slot);
      continue;
    }
    if (!flow_key(ip, l4, l4_len, &keys[m])) [[unlikely]] {
      if (proto == wire::ipv4::kProtoIcmp && l4_len >= wire::icmp::kHeaderLen) icmp_error(b, slot);
      else other_protocol(b, slot);
      continue;
    }
    slots[m++] = slot;
  }
  session::Hit<Session> hit[kBurstSlots];
  // keys[0..m) are all set above; GCC cannot see that through the out-of-line call.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
  const uint64_t hits = sessions_->find_bulk(keys.data(), m, hit);
#pragma GCC diagnostic pop
  // New flows from the inside: their mappings' buckets warmed in one bulk lookup (a mapping's
  // lookup and insertion are otherwise two DRAM misses in a row per new session).
  if (hits != (m == 64 ? ~uint64_t(0) : (uint64_t(1) << m) - 1)) [[unlikely]] warm_mappings(b, slots, keys.data(), m, hits);
  uint32_t translated[2] = {0, 0};  // in, out
  for (uint32_t j = 0; j < m; ++j) {
    if (!(hits >> j & 1)) [[unlikely]] {
      miss(b, slots[j], keys[j]);
      continue;
    }
    const int out = rewrite(b, slots[j], *hit[j].entry, hit[j].dir);
    if (out >= 0) ++translated[out];
  }
  if (pending_.size()) [[unlikely]] create_pending(b);
  // Counted once per burst: the counters' cache line is read by the control thread.
  w_.count(Counter::nat_translated_out, translated[1]);
  w_.count(Counter::nat_translated_in, translated[0]);
}

void NatStage::translate(Burst& b, uint8_t slot, Session& s, unsigned dir) {
  const int out = rewrite(b, slot, s, dir);
  if (out >= 0) w_.count(out ? Counter::nat_translated_out : Counter::nat_translated_in);
}

bool NatStage::too_big(Burst& b, uint8_t slot) {
  rte_mbuf* m = b.pkts[slot];
  const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, b.meta[slot].l3_offset);
  const pipeline::Shared& sh = w_.shared();
  const uint32_t hop = sh.routes->lookup(wire::ipv4::dst(ip));
  if (hop == ip::RouteTable::kNoRoute) return false;
  const ip::NextHop& h = sh.routes->hop(hop);
  const uint16_t mtu = sh.ports[h.port].mtu;
  if (h.kind != ip::NextHop::Kind::kForward || wire::load16(ip, wire::ipv4::kTotalLength) <= mtu ||
      !(wire::load16(ip, wire::ipv4::kFlagsFragment) & wire::ipv4::kFlagDontFragment))
    return false;
  // RFC 1191 §4 (and RFC 5508 §7: path-MTU discovery must work through the NAT): the source is
  // told the next-hop MTU about the datagram as it sent it.
  const auto repr = wire::ipv4::parse(ip, rte_pktmbuf_pkt_len(m) - b.meta[slot].l3_offset, false).repr;
  if (repr)
    w_.send_icmp_error(m, b.meta[slot].in_port, *repr, {wire::icmp::kDestUnreachable, wire::icmp::kFragmentationNeeded, mtu},
                       false);
  b.drop(slot, Counter::ipv4_mtu_exceeded);
  return true;
}

int NatStage::rewrite(Burst& b, uint8_t slot, Session& s, unsigned dir) {
  rte_mbuf* m = b.pkts[slot];
  const pipeline::PacketMeta& pm = b.meta[slot];
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* l4 = frame + pm.l4_offset;
  const bool outbound = (dir == 0) == bool(s.flags() & kInitiatorInside);
  // Larger than the smallest outside MTU: it may need "fragmentation needed", which must reach
  // the inside host about the datagram it sent, so before the rewrite (cold; one compare here).
  if (outbound && wire::load16(frame + pm.l3_offset, wire::ipv4::kTotalLength) > smallest_outside_mtu_) [[unlikely]]
    if (too_big(b, slot)) return -1;
  // The tracker wants segments that can change the state: SYN, FIN, RST, and the ACK that
  // completes the handshake.
  if (s.protocol() == wire::ipv4::kProtoTcp && ((l4[13] & kTcpStateFlags) || s.tcp.state == TcpState::kSynReceived))
      [[unlikely]]
    track_tcp(s, dir, b, slot);
  apply(s.rewrite[dir], s.protocol(), frame + pm.l3_offset, l4);
  s.stamp.last_used = uint32_t(w_.now_tick());
  if (s.flags() & (dir == 0 ? kHairpin0 : kHairpin1)) [[unlikely]] {
    // RFC 4787 §6: rewritten for one of our external addresses: round again, as if it had
    // arrived from outside.
    w_.count(Counter::nat_hairpinned);
    b.to(slot, self_);
  } else {
    b.to(slot, proceed);
  }
  return outbound ? 1 : 0;
}

void add_nat_feature(pipeline::Shared& s, NatShared& nat) {
  nat.stages.assign(s.workers, nullptr);
  // The allocation log's rings, one per worker, made here on the control thread before any
  // worker runs: room for a burst of a few thousand events between two drains (every 20 ms).
  nat.logs.clear();
  if (nat.rules.load(std::memory_order_acquire)->config().log.on()) {
    static std::atomic<uint32_t> serial{0};
    for (uint32_t w = 0; w < s.workers; ++w) {
      std::string error;
      auto ring = LogRing::create("natlog" + std::to_string(w) + "_" + std::to_string(serial.fetch_add(1)), 8192,
                                  int(rte_socket_id()), &error);
      if (!ring) throw std::runtime_error(error);
      nat.logs.push_back(std::move(ring));
    }
  }
  s.features.push_back([&nat](pipeline::StageGraph& g, pipeline::Worker& w) {
    auto stage = std::make_unique<NatStage>(w, nat);
    NatStage* p = stage.get();
    const NextId id = g.add(std::move(stage));
    p->set_id(id);
    g.add_hook(pipeline::Hook::kPreRouting, id, pipeline::HookOrder::kNat);
  });
}

}  // namespace redline::nat
