// The translation of one direction of a NAT session: the tuple a packet leaves with, and the
// checksum adjustment that takes its IPv4 and L4 checksums from the old tuple to the new one.
//
// Problem: every translated packet changes an address and a port (or the ICMP echo
// identifier), so the IPv4 header checksum and the TCP/UDP checksum (whose pseudo-header holds
// the addresses, RFC 9293 §3.1, RFC 768) or the ICMP checksum change too. Recomputing them
// costs a pass over the payload per packet. Choice: RFC 1624 incremental update with the
// difference precomputed once, when the session is made: a session's translation never
// changes, so the sum of ~old + new over every changed 16-bit word is a constant of the
// direction. Per packet that is an add, two folds and a complement per checksum.
//
// Words are summed in memory order: the ones' complement sum is byte-order independent
// (RFC 1071 §2(B)), so neither the delta nor the checksum field is ever byte-swapped.
#pragma once

#include <cstdint>
#include <cstring>

#include "stack/net/five_tuple.hpp"
#include "stack/wire/bytes.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::nat {

using net::FiveTuple;

// What a packet matching one key of a session is rewritten to. 16 bytes: two of these and the
// session's two keys fill half of a session entry (session.hpp).
struct Rewrite {
  uint32_t src_ip = 0;    // network byte order, as FiveTuple
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;  // ICMP echo: both ports hold the identifier
  uint16_t dst_port = 0;
  uint16_t ip_delta = 0;  // ones' complement sum of ~old + new over the address words
  uint16_t l4_delta = 0;  // the same over the pseudo-header addresses and the ports (TCP, UDP),
                          // or over the identifier alone (ICMP: no pseudo-header, RFC 792)
  FiveTuple tuple(uint8_t protocol) const { return {src_ip, dst_ip, src_port, dst_port, protocol, {0, 0, 0}}; }
};
static_assert(sizeof(Rewrite) == 16);

namespace detail {
inline uint32_t words(uint32_t v) { return (v & 0xffff) + (v >> 16); }
inline uint16_t fold(uint32_t s) {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}
// RFC 1624 eqn. 3 with the ~m + m' terms summed in advance: HC' = ~(~HC + delta).
inline uint16_t adjust(uint16_t checksum, uint16_t delta) { return uint16_t(~fold(uint32_t(uint16_t(~checksum)) + delta)); }
// The same for an ICMP checksum, which covers the message alone (RFC 792: no pseudo-header), so
// the message may be all zero (an echo reply with identifier, sequence number and data zero):
// its sum is +0 and its checksum 0xffff, where eqn. 3 gives 0x0000, which does not verify
// (RFC 1624 §3's argument holds for data that is never all zero, as an IPv4 header). Where
// eqn. 3 gives 0x0000 the message sums to +0 or -0, and 0xffff verifies for both: it is sent
// instead, as RFC 768 has UDP send a computed zero.
inline uint16_t adjust_icmp(uint16_t checksum, uint16_t delta) {
  const uint16_t c = adjust(checksum, delta);
  return c == 0 ? 0xffff : c;
}
using wire::load_raw16;
using wire::store_raw16;
}  // namespace detail

// The rewrite that takes packets with tuple `from` to tuple `to` (same protocol).
inline Rewrite make_rewrite(const FiveTuple& from, const FiveTuple& to) {
  using detail::words;
  Rewrite r{to.src_ip, to.dst_ip, to.src_port, to.dst_port, 0, 0};
  const uint32_t addr = words(~from.src_ip) + words(to.src_ip) + words(~from.dst_ip) + words(to.dst_ip);
  r.ip_delta = detail::fold(addr);
  if (from.protocol == wire::ipv4::kProtoIcmp)
    r.l4_delta = detail::fold(uint32_t(uint16_t(~from.src_port)) + to.src_port);
  else
    r.l4_delta = detail::fold(addr + uint16_t(~from.src_port) + to.src_port + uint16_t(~from.dst_port) + to.dst_port);
  return r;
}

// L4 field offsets the rewrite touches (RFC 9293 §3.1, RFC 768, RFC 792).
constexpr size_t kTcpChecksum = 16;
constexpr size_t kUdpChecksum = 6;
constexpr size_t kIcmpChecksum = 2;
constexpr size_t kIcmpIdentifier = 4;

// Rewrites the IPv4 header at `ip` and, unless `l4` is null (a later fragment: no L4 header),
// the TCP/UDP/ICMP-echo header at `l4` of a packet whose tuple is the `from` of `r`.
inline void apply(const Rewrite& r, uint8_t protocol, uint8_t* ip, uint8_t* l4) {
  using namespace detail;
  std::memcpy(ip + wire::ipv4::kSrc, &r.src_ip, 4);
  std::memcpy(ip + wire::ipv4::kDst, &r.dst_ip, 4);
  store_raw16(ip + wire::ipv4::kChecksum, adjust(load_raw16(ip + wire::ipv4::kChecksum), r.ip_delta));
  if (!l4) return;
  if (protocol == wire::ipv4::kProtoTcp) {
    std::memcpy(l4, &r.src_port, 2);
    std::memcpy(l4 + 2, &r.dst_port, 2);
    store_raw16(l4 + kTcpChecksum, adjust(load_raw16(l4 + kTcpChecksum), r.l4_delta));
  } else if (protocol == wire::ipv4::kProtoUdp) {
    std::memcpy(l4, &r.src_port, 2);
    std::memcpy(l4 + 2, &r.dst_port, 2);
    // RFC 768: a zero checksum means none was sent, and stays so; a computed zero is sent as
    // all ones.
    const uint16_t c = load_raw16(l4 + kUdpChecksum);
    if (c != 0) {
      const uint16_t n = adjust(c, r.l4_delta);
      store_raw16(l4 + kUdpChecksum, n == 0 ? 0xffff : n);
    }
  } else {
    std::memcpy(l4 + kIcmpIdentifier, &r.src_port, 2);
    store_raw16(l4 + kIcmpChecksum, adjust_icmp(load_raw16(l4 + kIcmpChecksum), r.l4_delta));
  }
}

// The key a NAT session knows the IPv4 packet at `ip` by (its L4 header at `l4`, `l4_len`
// bytes of it in the datagram): TCP and UDP ports, or an ICMP echo's identifier in both ports
// (RFC 5508 REQ-2). False for anything else (other protocols, ICMP errors, short headers).
inline bool flow_key(const uint8_t* ip, const uint8_t* l4, uint32_t l4_len, FiveTuple* key) {
  const uint8_t proto = ip[wire::ipv4::kProtocol];
  key->src_ip = wire::load_raw32(ip + wire::ipv4::kSrc);
  key->dst_ip = wire::load_raw32(ip + wire::ipv4::kDst);
  key->protocol = proto;
  key->pad[0] = key->pad[1] = key->pad[2] = 0;
  if ((proto == wire::ipv4::kProtoUdp && l4_len >= 8) || (proto == wire::ipv4::kProtoTcp && l4_len >= 20)) [[likely]] {
    key->src_port = wire::load_raw16(l4);
    key->dst_port = wire::load_raw16(l4 + 2);
    return true;
  }
  if (proto == wire::ipv4::kProtoIcmp && l4_len >= wire::icmp::kHeaderLen &&
      (l4[0] == wire::icmp::kEchoRequest || l4[0] == wire::icmp::kEchoReply)) {
    key->src_port = key->dst_port = wire::load_raw16(l4 + kIcmpIdentifier);
    return true;
  }
  return false;
}

// The same tuple seen from the other end: what a reply carries.
inline FiveTuple reversed(const FiveTuple& t) { return {t.dst_ip, t.src_ip, t.dst_port, t.src_port, t.protocol, {0, 0, 0}}; }

}  // namespace redline::nat
