// IPv4 routing and forwarding (RFC 791, RFC 1812 §5): the route stage (which forwards too) and
// the route of what redline itself sends (local-out).
#include "stack/pipeline/builtin_stages.hpp"
#include "stack/pipeline/flow_hash.hpp"
#include "stack/pipeline/worker.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::pipeline {

using net::Counter;
using wire::ipv4::Repr;

namespace {
const uint8_t* ip_header(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, const uint8_t*, wire::eth::kHeaderLen); }

// The header, already validated by classify: parsed again only on the cold paths that need
// the whole Repr (errors).
[[gnu::cold]] Repr repr_of(rte_mbuf* m) {
  return *wire::ipv4::parse(ip_header(m), rte_pktmbuf_pkt_len(m) - wire::eth::kHeaderLen, false).repr;
}

[[gnu::cold]] void error_and_drop(Worker& w, Burst& b, uint8_t slot, const icmp::ErrorSpec& spec, Counter why) {
  w.send_icmp_error(b.pkts[slot], b.meta[slot].in_port, repr_of(b.pkts[slot]), spec, false);
  b.drop(slot, why);
}
}  // namespace

void RouteStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  const Shared& s = w_.shared();
  // Longest-prefix match for the whole span, four at a time.
  Scratch<net::Ipv4Addr, kBurstSlots + 3> dst;
  Scratch<uint8_t*, kBurstSlots> frames;
  uint32_t hop[kBurstSlots + 3];
  for (uint32_t k = 0; k < n; ++k) {
    frames[k] = rte_pktmbuf_mtod(b.pkts[idx[k]], uint8_t*);
    dst[k] = wire::ipv4::dst(frames[k] + wire::eth::kHeaderLen);
  }
  uint32_t k = 0;
  for (; k + 4 <= n; k += 4) s.routes->lookup4(dst.data() + k, &hop[k]);
  for (; k < n; ++k) hop[k] = s.routes->lookup(dst[k]);

  const NextId local = w_.stages().local;
  const NextId post = w_.graph().entry(Hook::kPostRouting);
  uint32_t forwarded = 0;
  for (k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    PacketMeta& pm = b.meta[slot];
    const net::Ipv4Addr d = dst[k];
    if (d.is_limited_broadcast()) {
      pm.flags |= kFlagToBroadcast;
      b.to(slot, local);
      continue;
    }
    // RFC 1812 §5.3.7: loopback, 0/8 and class E (240/4) destinations are never forwarded.
    if (d.is_loopback() || (d.value >> 24) == 0 || (d.value >> 28) == 0xf) [[unlikely]] {
      b.drop(slot, Counter::ipv4_bad_destination);
      continue;
    }
    if (d.is_multicast()) [[unlikely]] {
      b.drop(slot, Counter::ipv4_not_forwarded);
      continue;
    }
    if (hop[k] == ip::RouteTable::kNoRoute) [[unlikely]] {
      error_and_drop(w_, b, slot, {wire::icmp::kDestUnreachable, wire::icmp::kNetUnreachable, 0},
                     Counter::ipv4_no_route);
      continue;
    }
    const ip::NextHop& h = next_hop_of(*s.routes, hop[k], frames[k] + wire::eth::kHeaderLen);  // ECMP: the flow's path
    if (h.kind != ip::NextHop::Kind::kForward) {
      if (h.kind == ip::NextHop::Kind::kBroadcast) pm.flags |= kFlagToBroadcast;
      b.to(slot, local);
      continue;
    }
    // RFC 1812 §5.3.4: a unicast datagram that came in a link-layer broadcast is not forwarded.
    if (wire::eth::dst_is_broadcast(frames[k])) [[unlikely]] {
      b.drop(slot, Counter::ipv4_not_forwarded);
      continue;
    }
    if (forward(b, slot, frames[k] + wire::eth::kHeaderLen, h, hop[k])) {
      b.to(slot, post);
      ++forwarded;
    }
  }
  w_.count(Counter::ipv4_forwarded, forwarded);
}

// Forwarding proper, for a packet the route stage found a forward route for: TTL (RFC 1812
// §5.3.1), DF and the egress MTU (RFC 1191 §4), the next hop. In the route stage's loop rather
// than a stage of its own: no hook sits between the two, and one pass over the burst is cheaper
// than two.
bool RouteStage::forward(Burst& b, uint8_t slot, uint8_t* ip, const ip::NextHop& h, uint32_t route) {
  const Shared& s = w_.shared();
  rte_mbuf* m = b.pkts[slot];
  PacketMeta& pm = b.meta[slot];
  // RFC 1812 §5.3.1: a datagram whose TTL would reach zero is discarded with time exceeded.
  if (wire::ipv4::ttl(ip) <= 1) [[unlikely]] {
    error_and_drop(w_, b, slot, {wire::icmp::kTimeExceeded, wire::icmp::kTtlExceededInTransit, 0},
                   Counter::ipv4_ttl_expired);
    return false;
  }
  const uint16_t total_len = wire::load16(ip, wire::ipv4::kTotalLength);
  // RFC 1191 §4: too big with DF set: tell the source the next-hop MTU. Without DF the output
  // stage fragments it (RFC 1812 §5.2.6), after the post-routing hooks have rewritten it.
  if (total_len > s.ports[h.port].mtu &&
      (wire::load16(ip, wire::ipv4::kFlagsFragment) & wire::ipv4::kFlagDontFragment)) [[unlikely]] {
    error_and_drop(w_, b, slot, {wire::icmp::kDestUnreachable, wire::icmp::kFragmentationNeeded, s.ports[h.port].mtu},
                   Counter::ipv4_mtu_exceeded);
    return false;
  }
  wire::ipv4::decrement_ttl(ip);
  // Ethernet padding beyond the datagram must not be forwarded as payload.
  const uint32_t frame_len = wire::eth::kHeaderLen + total_len;
  if (rte_pktmbuf_pkt_len(m) > frame_len) [[unlikely]]
    rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_pkt_len(m) - frame_len));
  pm.route = route;
  pm.out_port = h.port;
  pm.next_hop = h.gateway.is_unspecified() ? wire::ipv4::dst(ip) : h.gateway;
  return true;
}

void LocalOutStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  const Shared& s = w_.shared();
  const NextId post = w_.graph().entry(Hook::kPostRouting);
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    PacketMeta& pm = b.meta[slot];
    const net::Ipv4Addr dst = wire::ipv4::dst(ip_header(b.pkts[slot]));
    const uint32_t index = s.routes->lookup(dst);
    if (index == ip::RouteTable::kNoRoute) {
      b.drop(slot, Counter::ipv4_no_route);
      continue;
    }
    const ip::NextHop& h = next_hop_of(*s.routes, index, ip_header(b.pkts[slot]));
    if (h.kind != ip::NextHop::Kind::kForward) {
      b.drop(slot, Counter::ipv4_bad_destination);
      continue;
    }
    pm.out_port = h.port;
    pm.next_hop = h.gateway.is_unspecified() ? dst : h.gateway;
    pm.flags |= kFlagOriginated;
    b.to(slot, post);
  }
}

}  // namespace redline::pipeline
