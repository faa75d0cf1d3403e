// IPv4 input, forwarding and output (RFC 791, RFC 1812 §5).
#include <rte_lpm.h>

#include "stack/pipeline/worker.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::pipeline {

using net::Counter;
using wire::ipv4::Repr;

namespace {
const uint8_t* ip_header(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, const uint8_t*, wire::eth::kHeaderLen); }
uint8_t* ip_header_rw(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen); }

// RFC 1812 §5.3.7: a source that cannot name a single host is dropped, not answered: broadcast,
// multicast, loopback, class E, and "this network" 0/8 (0.0.0.0 itself is let through to
// limited broadcast, for DHCP, by the caller).
bool martian_source(net::Ipv4Addr s) {
  return s.is_limited_broadcast() || s.is_multicast() || s.is_loopback() || (s.value >> 28) == 0xf ||
         ((s.value >> 24) == 0 && !s.is_unspecified());
}
}  // namespace

void Worker::ipv4_input(rte_mbuf** pkts, const uint16_t* in_ports, uint32_t n) {
  // Longest-prefix match for the whole group, four at a time.
  net::Ipv4Addr dst[kMaxBurst + 3];
  uint32_t hop[kMaxBurst + 3];
  for (uint32_t i = 0; i < n; ++i) dst[i] = wire::ipv4::dst(ip_header(pkts[i]));
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) s_.routes->lookup4(&dst[i], &hop[i]);
  for (; i < n; ++i) hop[i] = s_.routes->lookup(dst[i]);

  rte_mbuf* fwd[kMaxBurst];
  uint16_t fwd_port[kMaxBurst];
  uint32_t fwd_hop[kMaxBurst];
  uint32_t nfwd = 0;
  for (i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const uint8_t* ip = ip_header(m);
    net::Ipv4Addr src = wire::ipv4::src(ip);
    if (martian_source(src) || s_.port_owning_address(src) >= 0 ||
        (src.is_unspecified() && !dst[i].is_limited_broadcast())) {
      drop(m, Counter::ipv4_bad_source);
      continue;
    }
    if (dst[i].is_loopback() || dst[i].is_unspecified()) {
      drop(m, Counter::ipv4_bad_destination);
      continue;
    }
    if (dst[i].is_limited_broadcast()) {
      Repr r = *wire::ipv4::parse(ip, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen, false).repr;
      local_input(m, in_ports[i], r, true);
      continue;
    }
    if (dst[i].is_multicast()) {
      drop(m, Counter::ipv4_not_forwarded);
      continue;
    }
    if (hop[i] == ip::RouteTable::kNoRoute) {
      Repr r = *wire::ipv4::parse(ip, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen, false).repr;
      send_icmp_error(m, in_ports[i], r, {wire::icmp::kDestUnreachable, wire::icmp::kNetUnreachable, 0}, false);
      drop(m, Counter::ipv4_no_route);
      continue;
    }
    const ip::NextHop& h = s_.routes->hop(hop[i]);
    if (h.kind != ip::NextHop::Kind::kForward) {
      Repr r = *wire::ipv4::parse(ip, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen, false).repr;
      local_input(m, in_ports[i], r, h.kind == ip::NextHop::Kind::kBroadcast);
      continue;
    }
    // RFC 1812 §5.3.4: a unicast datagram that came in a link-layer broadcast is not forwarded.
    if (wire::eth::dst(rte_pktmbuf_mtod(m, const uint8_t*)).is_broadcast()) {
      drop(m, Counter::ipv4_not_forwarded);
      continue;
    }
    fwd[nfwd] = m;
    fwd_port[nfwd] = in_ports[i];
    fwd_hop[nfwd++] = hop[i];
  }
  if (nfwd) forward(fwd, fwd_port, fwd_hop, nfwd);
}

void Worker::forward(rte_mbuf** pkts, const uint16_t* in_ports, const uint32_t* hops, uint32_t n) {
  net::Ipv4Addr next_hop[kMaxBurst];
  uint16_t in_port[kMaxBurst];
  uint16_t out_port[kMaxBurst];
  rte_mbuf* ready[kMaxBurst];
  uint32_t nready = 0;
  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    uint8_t* ip = ip_header_rw(m);
    const ip::NextHop& h = s_.routes->hop(hops[i]);
    // RFC 1812 §5.3.1: a datagram whose TTL would reach zero is discarded with time exceeded.
    if (wire::ipv4::ttl(ip) <= 1) {
      Repr r = *wire::ipv4::parse(ip, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen, false).repr;
      send_icmp_error(m, in_ports[i], r, {wire::icmp::kTimeExceeded, wire::icmp::kTtlExceededInTransit, 0}, false);
      drop(m, Counter::ipv4_ttl_expired);
      continue;
    }
    uint16_t total_len = wire::load16(ip, wire::ipv4::kTotalLength);
    if (total_len > s_.ports[h.port].mtu) {
      // RFC 1191 §4: with DF set, tell the source the next-hop MTU. Without DF we would have to
      // fragment (RFC 791 §3.2); redline counts and drops instead (README: Fragments).
      Repr r = *wire::ipv4::parse(ip, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen, false).repr;
      if (r.dont_fragment())
        send_icmp_error(m, in_ports[i], r,
                        {wire::icmp::kDestUnreachable, wire::icmp::kFragmentationNeeded, s_.ports[h.port].mtu}, false);
      drop(m, Counter::ipv4_mtu_exceeded);
      continue;
    }
    wire::ipv4::decrement_ttl(ip);
    // Ethernet padding beyond the datagram must not be forwarded as payload.
    uint32_t frame_len = wire::eth::kHeaderLen + total_len;
    if (rte_pktmbuf_data_len(m) > frame_len) rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_data_len(m) - frame_len));
    next_hop[nready] = h.gateway.is_unspecified() ? wire::ipv4::dst(ip) : h.gateway;
    in_port[nready] = in_ports[i];
    out_port[nready] = h.port;
    ready[nready++] = m;
  }
  count(Counter::ipv4_forwarded, nready);
  // Most of a burst shares a next hop (a gateway, or one busy host): look up each run of equal
  // next hops once.
  net::Ipv4Addr unique_hop[kMaxBurst];
  uint8_t unique_of[kMaxBurst];
  uint32_t nunique = 0;
  for (uint32_t k = 0; k < nready; ++k) {
    if (nunique == 0 || next_hop[k] != unique_hop[nunique - 1]) unique_hop[nunique++] = next_hop[k];
    unique_of[k] = uint8_t(nunique - 1);
  }
  arp::Neighbor neighbor[kMaxBurst];
  uint64_t hits = 0;
  for (uint32_t base = 0; base < nunique; base += arp::NeighborTable::kBulkMax) {
    uint32_t chunk = std::min<uint32_t>(nunique - base, arp::NeighborTable::kBulkMax);
    hits |= s_.neighbors->lookup_bulk(&unique_hop[base], chunk, &neighbor[base]) << base;
  }
  for (uint32_t k = 0; k < nready; ++k) {
    uint32_t u = unique_of[k];
    if (hits & (uint64_t(1) << u)) {
      finish_frame(ready[k], out_port[k], neighbor[u].mac);
      transmit(ready[k], out_port[k]);
    } else {
      resolve_then_send(ready[k], in_port[k], out_port[k], next_hop[k]);
    }
  }
}

void Worker::local_input(rte_mbuf* m, uint16_t in_port, const Repr& ip, bool broadcast) {
  count(Counter::ipv4_local);
  // No reassembly: fragments for us are counted and dropped (README: Fragments).
  if (ip.is_fragment()) return drop(m, Counter::ipv4_fragment_local);
  switch (ip.protocol) {
    case wire::ipv4::kProtoIcmp:
      return icmp_input(m, ip, broadcast);
    case wire::ipv4::kProtoUdp:
      // RFC 1122 §4.1.3.1: no listener -> port unreachable (never for broadcasts).
      send_icmp_error(m, in_port, ip, {wire::icmp::kDestUnreachable, wire::icmp::kPortUnreachable, 0}, broadcast);
      return drop(m, Counter::udp_no_listener);
    case wire::ipv4::kProtoTcp:
      return drop(m, Counter::tcp_no_listener);
    default:
      // RFC 1122 §3.2.2.1: protocol unreachable for a transport we do not speak.
      send_icmp_error(m, in_port, ip, {wire::icmp::kDestUnreachable, wire::icmp::kProtocolUnreachable, 0}, broadcast);
      return drop(m, Counter::ipv4_unsupported_protocol);
  }
}

void Worker::output_ipv4(rte_mbuf* m) {
  const uint8_t* ip = ip_header(m);
  net::Ipv4Addr dst = wire::ipv4::dst(ip);
  uint32_t index = s_.routes->lookup(dst);
  if (index == ip::RouteTable::kNoRoute) return drop(m, Counter::ipv4_no_route);
  const ip::NextHop& h = s_.routes->hop(index);
  if (h.kind != ip::NextHop::Kind::kForward) return drop(m, Counter::ipv4_bad_destination);
  if (wire::load16(ip, wire::ipv4::kTotalLength) > s_.ports[h.port].mtu) return drop(m, Counter::ipv4_mtu_exceeded);
  net::Ipv4Addr next_hop = h.gateway.is_unspecified() ? dst : h.gateway;
  if (auto neighbor = s_.neighbors->lookup(next_hop)) {
    finish_frame(m, h.port, neighbor->mac);
    return transmit(m, h.port);
  }
  // Packets we originate have no ingress port; errors about them are never sent anyway.
  resolve_then_send(m, h.port, h.port, next_hop);
}

}  // namespace redline::pipeline
