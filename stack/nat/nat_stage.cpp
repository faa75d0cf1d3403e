// The NAT stage's fast path: bulk lookup of every packet's tuple, in-place rewrite of the hits
// with the session's precomputed checksum deltas (rewrite.hpp). Everything else is in
// nat_sessions.cpp, in cold code.
#include "stack/nat/nat_stage.hpp"

#include <rte_mbuf.h>

#include "stack/pipeline/worker.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::nat {

using net::Counter;
using pipeline::kBurstSlots;

namespace {
uint32_t load_raw32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint16_t load_raw16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
}  // namespace

void NatStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
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
    FiveTuple& key = keys[m];
    key.src_ip = load_raw32(ip + wire::ipv4::kSrc);
    key.dst_ip = load_raw32(ip + wire::ipv4::kDst);
    key.protocol = proto;
    key.pad[0] = key.pad[1] = key.pad[2] = 0;
    if ((proto == wire::ipv4::kProtoUdp && l4_len >= 8) || (proto == wire::ipv4::kProtoTcp && l4_len >= 20)) [[likely]] {
      key.src_port = load_raw16(l4);
      key.dst_port = load_raw16(l4 + 2);
    } else if (proto == wire::ipv4::kProtoIcmp && l4_len >= wire::icmp::kHeaderLen &&
               (l4[0] == wire::icmp::kEchoRequest || l4[0] == wire::icmp::kEchoReply)) {
      // RFC 5508 REQ-2: the echo identifier plays the part of a port, on both sides.
      key.src_port = key.dst_port = load_raw16(l4 + kIcmpIdentifier);
    } else {
      if (proto == wire::ipv4::kProtoIcmp && l4_len >= wire::icmp::kHeaderLen) icmp_error(b, slot);
      else other_protocol(b, slot);
      continue;
    }
    slots[m++] = slot;
  }
  void* data[kBurstSlots];
  // keys[0..m) are all set above; GCC cannot see that through the out-of-line call.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
  const uint64_t hits = sessions_table_->find_bulk(keys.data(), m, data);
#pragma GCC diagnostic pop
  for (uint32_t j = 0; j < m; ++j) {
    if (!(hits >> j & 1)) [[unlikely]] {
      miss(b, slots[j], keys[j]);
      continue;
    }
    const uintptr_t v = uintptr_t(data[j]);
    translate(b, slots[j], *reinterpret_cast<Session*>(v & ~uintptr_t(1)), unsigned(v & 1));
  }
}

void NatStage::translate(Burst& b, uint8_t slot, Session& s, unsigned dir) {
  rte_mbuf* m = b.pkts[slot];
  const pipeline::PacketMeta& pm = b.meta[slot];
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* l4 = frame + pm.l4_offset;
  // The tracker wants segments that can change the state: SYN, FIN, RST, and the ACK that
  // completes the handshake.
  if (s.protocol == wire::ipv4::kProtoTcp && ((l4[13] & kTcpStateFlags) || s.tcp.state == TcpState::kSynReceived))
      [[unlikely]]
    track_tcp(s, dir, b, slot);
  apply(s.rewrite[dir], s.protocol, frame + pm.l3_offset, l4);
  s.last_used = uint32_t(w_.now_tick());
  const bool outbound = (dir == 0) == bool(s.flags & kInitiatorInside);
  w_.count(outbound ? Counter::nat_translated_out : Counter::nat_translated_in);
  if (s.flags & (dir == 0 ? kHairpin0 : kHairpin1)) [[unlikely]] {
    // RFC 4787 §6: rewritten for one of our external addresses: round again, as if it had
    // arrived from outside.
    w_.count(Counter::nat_hairpinned);
    b.to(slot, self_);
    return;
  }
  b.to(slot, proceed);
}

void add_nat_feature(pipeline::Shared& s, NatShared& nat) {
  nat.stages.assign(s.workers, nullptr);
  s.features.push_back([&nat](pipeline::StageGraph& g, pipeline::Worker& w) {
    auto stage = std::make_unique<NatStage>(w, nat);
    NatStage* p = stage.get();
    const NextId id = g.add(std::move(stage));
    p->set_id(id);
    g.add_hook(pipeline::Hook::kPreRouting, id);
  });
}

}  // namespace redline::nat
