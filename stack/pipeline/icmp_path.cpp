// ICMP for redline's own addresses: echo (RFC 792) and originating errors (RFC 1812 §4.3).
#include <rte_ether.h>

#include "stack/pipeline/worker.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::pipeline {

using net::Counter;
using wire::ipv4::Repr;

void Worker::icmp_input(rte_mbuf* m, const Repr& ip, bool broadcast) {
  uint8_t* iph = rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen);
  uint8_t* icmp = iph + ip.header_len;
  size_t icmp_len = ip.total_len - ip.header_len;
  if (icmp_len < wire::icmp::kHeaderLen) return drop(m, Counter::icmp_truncated);
  if (!wire::checksum_ok(icmp, icmp_len)) return drop(m, Counter::icmp_bad_checksum);
  // Echo to a broadcast address goes unanswered (RFC 1122 §3.2.2.6 allows silence; it is what
  // keeps a router from amplifying "smurf" floods).
  if (wire::icmp::type(icmp) != wire::icmp::kEchoRequest || broadcast) return drop(m, Counter::icmp_ignored);

  // RFC 792 echo reply: same identifier, sequence and data; addresses swapped, which leaves the
  // header checksum unchanged, and a fresh TTL, patched incrementally (RFC 1624).
  wire::store_ip(iph, wire::ipv4::kSrc, ip.dst);
  wire::store_ip(iph, wire::ipv4::kDst, ip.src);
  uint16_t old_word = wire::load16(iph, wire::ipv4::kTtl);
  uint16_t new_word = uint16_t((64 << 8) | ip.protocol);
  wire::store16(iph, wire::ipv4::kTtl, new_word);
  wire::store16(iph, wire::ipv4::kChecksum,
                wire::checksum_update16(wire::load16(iph, wire::ipv4::kChecksum), old_word, new_word));
  wire::icmp::echo_request_to_reply(icmp);
  uint32_t frame_len = wire::eth::kHeaderLen + ip.total_len;
  if (rte_pktmbuf_data_len(m) > frame_len) rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_data_len(m) - frame_len));
  count(Counter::icmp_echo_replied);
  output_ipv4(m);
}

void Worker::send_icmp_error(rte_mbuf* m, uint16_t in_port, const Repr& ip, const icmp::ErrorSpec& spec,
                             bool dst_is_broadcast) {
  const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
  icmp::Offender offender;
  offender.ip = &ip;
  offender.datagram = frame + wire::eth::kHeaderLen;
  offender.link_broadcast = wire::eth::dst(frame).is_multicast();
  offender.dst_is_broadcast = dst_is_broadcast;
  // Never about a datagram we originated ourselves (an error about our own reply would loop).
  if (!icmp::error_allowed(offender) || s_.port_owning_address(ip.src) >= 0)
    return count(Counter::icmp_error_suppressed);
  if (!icmp_limit_.allow(now_ns())) return count(Counter::icmp_rate_limited);

  rte_mbuf* out = rte_pktmbuf_alloc(s_.pool);
  if (!out) return count(Counter::mbuf_alloc_failed);
  constexpr size_t kRoom = wire::eth::kHeaderLen + wire::icmp::kMaxErrorDatagram;
  uint8_t* data = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(out, kRoom));
  if (!data) {
    rte_pktmbuf_free(out);
    return count(Counter::mbuf_alloc_failed);
  }
  // RFC 1812 §4.3.2.4: the source is an address of the interface the error leaves by, the one
  // the route back to the offender's source uses (with symmetric routing, the one the probe came
  // in by, which is the hop traceroute names).
  uint32_t back = s_.routes->lookup(ip.src);
  const uint16_t out_port = back != ip::RouteTable::kNoRoute && s_.routes->hop(back).kind == ip::NextHop::Kind::kForward
                                ? s_.routes->hop(back).port
                                : in_port;
  net::Ipv4Addr source = s_.ports[out_port].address.addr;
  size_t len = icmp::build_error(data + wire::eth::kHeaderLen, wire::icmp::kMaxErrorDatagram, offender,
                                 spec, source, ip_ident_++);
  rte_pktmbuf_trim(out, uint16_t(kRoom - wire::eth::kHeaderLen - len));
  count(Counter::icmp_errors_sent);
  output_ipv4(out);
}

}  // namespace redline::pipeline
