// Delivery to redline's own addresses: reassembly, the per-protocol dispatch, ICMP echo
// (RFC 792, RFC 1122 §3.2.2.6) and the transports nothing listens on yet.
#include "stack/pipeline/builtin_stages.hpp"
#include "stack/pipeline/ownership.hpp"
#include "stack/pipeline/worker.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::pipeline {

using net::Counter;
using wire::ipv4::Repr;

namespace {
uint8_t* ip_header(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen); }
Repr repr_of(rte_mbuf* m) {
  return *wire::ipv4::parse(ip_header(m), rte_pktmbuf_pkt_len(m) - wire::eth::kHeaderLen, false).repr;
}
}  // namespace

void LocalStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  const StageGraph& g = w_.graph();
  w_.count(Counter::ipv4_local, n);
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    const uint8_t* ip = ip_header(b.pkts[slot]);
    const uint16_t frag = wire::load16(ip, wire::ipv4::kFlagsFragment);
    if (frag & (wire::ipv4::kFlagMoreFragments | wire::ipv4::kFragmentOffsetMask)) [[unlikely]] {
      if (!reassemble(b, slot)) continue;  // held, handed over or dropped: next is set
      ip = ip_header(b.pkts[slot]);
    }
    const uint8_t proto = wire::load8(ip, wire::ipv4::kProtocol);
    const NextId next = g.local(proto);
    if (next == kNextDrop) [[unlikely]] {
      if (w_.to_kernel(b.pkts[slot], b.meta[slot].in_port, wire::ipv4::dst(ip), proto, 0, 0, false)) {
        b.to(slot, kNextDone);
        continue;
      }
      // RFC 1122 §3.2.2.1: protocol unreachable for a transport we do not speak.
      w_.send_icmp_error(b.pkts[slot], b.meta[slot].in_port, repr_of(b.pkts[slot]),
                         {wire::icmp::kDestUnreachable, wire::icmp::kProtocolUnreachable, 0},
                         b.meta[slot].flags & kFlagToBroadcast);
      b.drop(slot, Counter::ipv4_unsupported_protocol);
      continue;
    }
    b.to(slot, next);
  }
}

// Returns true when the slot now holds a whole datagram this core owns; otherwise sets the
// slot's next (done while fragments wait, handoff, drop).
bool LocalStage::reassemble(Burst& b, uint8_t slot) {
  rte_mbuf* m = b.pkts[slot];
  w_.count(Counter::ipv4_fragment_local);
  uint8_t* ip = ip_header(m);
  // Ethernet padding after a short fragment would end up inside the datagram.
  const uint32_t frame_len = wire::eth::kHeaderLen + wire::load16(ip, wire::ipv4::kTotalLength);
  if (rte_pktmbuf_pkt_len(m) > frame_len) rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_pkt_len(m) - frame_len));
  auto r = reassembly_->add(m, wire::eth::kHeaderLen, wire::ipv4::header_len(ip), w_.now_tsc());
  if (r.freed) w_.count(Counter::ipv4_reassembly_failed, r.freed);
  b.to(slot, kNextDone);  // the table holds it now (or freed it)
  if (!r.datagram) return false;
  w_.count(Counter::ipv4_reassembled);
  rte_mbuf* d = r.datagram;
  b.pkts[slot] = d;
  // rte_ip_frag leaves the header checksum zero: the datagram is whole, give it a valid one.
  ip = ip_header(d);
  wire::store16(ip, wire::ipv4::kChecksum, 0);
  wire::store16(ip, wire::ipv4::kChecksum, wire::internet_checksum(ip, wire::ipv4::header_len(ip)));
  // Its fragments met here by their addresses; whole, its ports may name another owner.
  Shared& s = w_.shared();
  PacketMeta& pm = b.meta[slot];
  if (s.workers > 1) {
    pm.owner = uint8_t(owner_of(s, d, pm.in_port, ip, &pm.flow_hash));
    if (pm.owner != w_.id()) {
      b.to(slot, kNextHandoff);
      return false;
    }
  }
  return true;
}

void IcmpStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  const NextId local_out = w_.stages().local_out;
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    rte_mbuf* m = b.pkts[slot];
    uint8_t* iph = ip_header(m);
    const size_t header_len = wire::ipv4::header_len(iph);
    const size_t icmp_len = wire::load16(iph, wire::ipv4::kTotalLength) - header_len;
    const size_t icmp_off = wire::eth::kHeaderLen + header_len;
    if (icmp_len < wire::icmp::kHeaderLen) {
      b.drop(slot, Counter::icmp_truncated);
      continue;
    }
    uint8_t* icmp = iph + header_len;
    bool sum_ok;
    if (m->nb_segs == 1) {
      sum_ok = wire::checksum_ok(icmp, icmp_len);
    } else {
      uint16_t sum = 0;  // a reassembled datagram: sum over every segment
      sum_ok = rte_raw_cksum_mbuf(m, uint32_t(icmp_off), uint32_t(icmp_len), &sum) == 0 && sum == 0xffff;
    }
    if (!sum_ok) {
      b.drop(slot, Counter::icmp_bad_checksum);
      continue;
    }
    // Errors about what a transport of ours sent go to that transport, on its flow's worker.
    if (wire::icmp::type(icmp) == wire::icmp::kDestUnreachable && icmp_len >= wire::icmp::kHeaderLen + 28 &&
        !(b.meta[slot].flags & kFlagToBroadcast)) {
      const uint8_t* quoted = icmp + wire::icmp::kHeaderLen;
      const uint8_t qproto = wire::load8(quoted, wire::ipv4::kProtocol);
      const size_t qihl = wire::ipv4::header_len(quoted);
      IcmpErrorSink* sink = w_.icmp_error_sink(qproto);
      if (sink && qihl >= wire::ipv4::kMinHeaderLen && icmp_len >= wire::icmp::kHeaderLen + qihl + 8) {
        Shared& s = w_.shared();
        // Computed even for a packet handed over already: that handover followed the error's
        // own addresses (classify), not the quoted flow's. On the flow's worker it stays.
        if (s.workers > 1) {
          net::FiveTuple t;
          t.src_ip = wire::load_raw32(quoted + wire::ipv4::kSrc);
          t.dst_ip = wire::load_raw32(quoted + wire::ipv4::kDst);
          t.src_port = wire::load_raw16(quoted + qihl);
          t.dst_port = wire::load_raw16(quoted + qihl + 2);
          t.protocol = qproto;
          const uint32_t owner = owner_of_tuple(s, t);
          if (owner != w_.id()) {
            b.meta[slot].owner = uint8_t(owner);
            b.to(slot, kNextHandoff);
            continue;
          }
        }
        if (sink->on_icmp_error(icmp, icmp_len)) {
          b.drop(slot, Counter::icmp_ignored);  // consumed: counted where it matched
          continue;
        }
      }
    }
    // Echo to a broadcast address goes unanswered (RFC 1122 §3.2.2.6 allows silence; it is what
    // keeps a router from amplifying "smurf" floods).
    if (wire::icmp::type(icmp) != wire::icmp::kEchoRequest || (b.meta[slot].flags & kFlagToBroadcast)) {
      // Echo replies and errors may belong to the kernel's own flows (its pings, its TCP).
      if (wire::icmp::type(icmp) != wire::icmp::kEchoRequest &&
          w_.to_kernel(m, b.meta[slot].in_port, wire::ipv4::dst(iph), wire::ipv4::kProtoIcmp, 0, 0, false)) {
        b.to(slot, kNextDone);
        continue;
      }
      b.drop(slot, Counter::icmp_ignored);
      continue;
    }
    if (header_len > wire::ipv4::kMinHeaderLen) [[unlikely]] {
      // RFC 1122 §3.2.2.6 asks a host to return record-route and timestamp options and to reverse
      // a source route. redline answers without options: it neither records nor source-routes
      // (RFC 1812 §5.2.4 lets a router refuse source routing), so there is nothing to return.
      // The fixed header and the Ethernet header move up over the options.
      const size_t opt = header_len - wire::ipv4::kMinHeaderLen;
      std::memmove(iph + opt, iph, wire::ipv4::kMinHeaderLen);
      std::memmove(rte_pktmbuf_mtod(m, uint8_t*) + opt, rte_pktmbuf_mtod(m, uint8_t*), wire::eth::kHeaderLen);
      rte_pktmbuf_adj(m, uint16_t(opt));
      iph = ip_header(m);
      wire::store8(iph, wire::ipv4::kVersionIhl, 0x45);
      wire::store16(iph, wire::ipv4::kTotalLength, uint16_t(wire::ipv4::kMinHeaderLen + icmp_len));
      icmp = iph + wire::ipv4::kMinHeaderLen;
    }
    // RFC 792 echo reply: same identifier, sequence and data; addresses swapped, a fresh TTL and
    // no fragment bits (a reassembled request is answered as one datagram, fragmented on output
    // if it must be).
    const net::Ipv4Addr src = wire::ipv4::src(iph), dst = wire::ipv4::dst(iph);
    wire::store_ip(iph, wire::ipv4::kSrc, dst);
    wire::store_ip(iph, wire::ipv4::kDst, src);
    wire::store8(iph, wire::ipv4::kTtl, 64);
    wire::store16(iph, wire::ipv4::kFlagsFragment, 0);
    wire::store16(iph, wire::ipv4::kChecksum, 0);
    wire::store16(iph, wire::ipv4::kChecksum, wire::internet_checksum(iph, wire::ipv4::kMinHeaderLen));
    wire::icmp::echo_request_to_reply(icmp);
    const uint32_t frame_len = uint32_t(wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen + icmp_len);
    if (rte_pktmbuf_pkt_len(m) > frame_len) rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_pkt_len(m) - frame_len));
    w_.count(Counter::icmp_echo_replied);
    b.to(slot, local_out);
  }
}

void NoListenerStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    // The kernel exception path first (a daemon beside redline may listen there).
    const uint8_t* iph = ip_header(b.pkts[slot]);
    const uint8_t* l4 = iph + wire::ipv4::header_len(iph);
    const uint32_t l4_len = wire::load16(iph, wire::ipv4::kTotalLength) - wire::ipv4::header_len(iph);
    // TCP flags byte: ACK 0x10, SYN 0x02 (RFC 9293 §3.1).
    const bool tcp_reply = protocol_ == wire::ipv4::kProtoTcp && l4_len >= 14 && (l4[13] & 0x12) == 0x10;
    if (l4_len >= 4 && w_.to_kernel(b.pkts[slot], b.meta[slot].in_port, wire::ipv4::dst(iph), protocol_,
                                    wire::load16(l4, 0), wire::load16(l4, 2), tcp_reply)) {
      b.to(slot, kNextDone);
      continue;
    }
    if (protocol_ == wire::ipv4::kProtoUdp) {
      // RFC 1122 §4.1.3.1: no listener -> port unreachable (never for broadcasts).
      w_.send_icmp_error(b.pkts[slot], b.meta[slot].in_port, repr_of(b.pkts[slot]),
                         {wire::icmp::kDestUnreachable, wire::icmp::kPortUnreachable, 0},
                         b.meta[slot].flags & kFlagToBroadcast);
      b.drop(slot, Counter::udp_no_listener);
    } else {
      b.drop(slot, Counter::tcp_no_listener);
    }
  }
}

}  // namespace redline::pipeline
