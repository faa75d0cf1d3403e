#include "stack/icmp/error.hpp"

#include <algorithm>
#include <cstring>

#include "stack/wire/icmp.hpp"

namespace redline::icmp {

using wire::ipv4::Repr;

bool error_allowed(const Offender& o) {
  const Repr& ip = *o.ip;
  if (o.link_broadcast || o.dst_is_broadcast) return false;
  if (ip.dst.is_multicast() || ip.dst.is_limited_broadcast()) return false;
  if (!ip.is_first_fragment_or_whole()) return false;
  net::Ipv4Addr s = ip.src;
  if (s.is_unspecified() || s.is_limited_broadcast() || s.is_multicast() || s.is_loopback() ||
      (s.value >> 28) == 0xf /* class E */)
    return false;
  if (ip.protocol == wire::ipv4::kProtoIcmp) {
    // Only the first fragment carries the ICMP header; a truncated one gets no error either.
    if (ip.total_len < ip.header_len + 1u) return false;
    if (wire::icmp::is_error(o.datagram[ip.header_len + wire::icmp::kType])) return false;
  }
  return true;
}

size_t build_error(uint8_t* out, size_t cap, const Offender& o, const ErrorSpec& spec,
                   net::Ipv4Addr our_src, uint16_t ident) {
  constexpr size_t kOuter = wire::ipv4::kMinHeaderLen + wire::icmp::kHeaderLen;
  size_t quote = std::min<size_t>(o.ip->total_len, wire::icmp::kMaxErrorDatagram - kOuter);
  if (cap < kOuter + std::min<size_t>(quote, o.ip->header_len + 8u)) return 0;
  quote = std::min(quote, cap - kOuter);

  uint8_t* icmp = out + wire::ipv4::kMinHeaderLen;
  std::memmove(icmp + wire::icmp::kHeaderLen, o.datagram, quote);
  wire::icmp::write_error(icmp, spec.type, spec.code, spec.rest, quote);

  Repr outer;
  outer.total_len = uint16_t(kOuter + quote);
  outer.ident = ident;
  outer.ttl = 64;
  outer.protocol = wire::ipv4::kProtoIcmp;
  outer.src = our_src;
  outer.dst = o.ip->src;
  // Internetwork control traffic (RFC 791 precedence 6), as Linux and BSD send errors.
  outer.tos = 0xc0;
  wire::ipv4::write(out, outer);
  return outer.total_len;
}

}  // namespace redline::icmp
