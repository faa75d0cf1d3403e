#include "stack/nat/icmp_error.hpp"

#include <cstring>

#include "stack/nat/rewrite.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::nat {

namespace {
constexpr size_t kQuotedL4Min = 8;  // RFC 792: the quoted datagram's first 64 bits of data

bool is_translatable_error(uint8_t type) {
  return type == wire::icmp::kDestUnreachable || type == wire::icmp::kTimeExceeded ||
         type == wire::icmp::kParameterProblem || type == 4 /* source quench */;
}

}  // namespace

std::optional<QuotedDatagram> parse_icmp_error(const uint8_t* ip, size_t len) {
  const size_t hl = wire::ipv4::header_len(ip);
  if (wire::load8(ip, wire::ipv4::kProtocol) != wire::ipv4::kProtoIcmp) return std::nullopt;
  if (wire::load16(ip, wire::ipv4::kFlagsFragment) & (wire::ipv4::kFragmentOffsetMask | wire::ipv4::kFlagMoreFragments))
    return std::nullopt;  // errors are never fragmented in practice; a fragment's quote may be cut
  if (len < hl + wire::icmp::kHeaderLen + wire::ipv4::kMinHeaderLen) return std::nullopt;
  const uint8_t* icmp = ip + hl;
  if (!is_translatable_error(wire::icmp::type(icmp))) return std::nullopt;
  const uint8_t* q = icmp + wire::icmp::kHeaderLen;
  const size_t qlen = len - hl - wire::icmp::kHeaderLen;
  if ((q[0] >> 4) != 4) return std::nullopt;
  const size_t qhl = wire::ipv4::header_len(q);
  if (qhl < wire::ipv4::kMinHeaderLen || qlen < qhl + kQuotedL4Min) return std::nullopt;
  // Only a first fragment (or a whole datagram) quotes ports.
  if (wire::load16(q, wire::ipv4::kFlagsFragment) & wire::ipv4::kFragmentOffsetMask) return std::nullopt;
  QuotedDatagram out;
  out.offset = hl + wire::icmp::kHeaderLen;
  out.length = qlen;
  net::FiveTuple& t = out.tuple;
  t.protocol = wire::load8(q, wire::ipv4::kProtocol);
  t.src_ip = wire::load_raw32(q + wire::ipv4::kSrc);
  t.dst_ip = wire::load_raw32(q + wire::ipv4::kDst);
  const uint8_t* l4 = q + qhl;
  if (t.protocol == wire::ipv4::kProtoTcp || t.protocol == wire::ipv4::kProtoUdp) {
    t.src_port = wire::load_raw16(l4);
    t.dst_port = wire::load_raw16(l4 + 2);
  } else if (t.protocol == wire::ipv4::kProtoIcmp) {
    const uint8_t type = wire::icmp::type(l4);
    if (type != wire::icmp::kEchoRequest && type != wire::icmp::kEchoReply) return std::nullopt;
    t.src_port = t.dst_port = wire::load_raw16(l4 + kIcmpIdentifier);
  } else {
    return std::nullopt;
  }
  return out;
}

void rewrite_icmp_error(uint8_t* ip, size_t len, const QuotedDatagram& q, const net::FiveTuple& quoted_new, bool outbound) {
  using detail::adjust;
  using detail::load_raw16;
  using detail::store_raw16;
  uint8_t* quoted = ip + q.offset;
  const size_t qhl = wire::ipv4::header_len(quoted);
  uint8_t* l4 = quoted + qhl;
  const size_t l4_len = q.length - qhl;
  const Rewrite rw = make_rewrite(q.tuple, quoted_new);

  // The quoted IPv4 header: addresses and their checksum.
  std::memcpy(quoted + wire::ipv4::kSrc, &rw.src_ip, 4);
  std::memcpy(quoted + wire::ipv4::kDst, &rw.dst_ip, 4);
  store_raw16(quoted + wire::ipv4::kChecksum, adjust(load_raw16(quoted + wire::ipv4::kChecksum), rw.ip_delta));
  // The quoted L4 header: ports (identifier) and, where the quote reaches it, its checksum.
  if (q.tuple.protocol == wire::ipv4::kProtoIcmp) {
    std::memcpy(l4 + kIcmpIdentifier, &rw.src_port, 2);
    store_raw16(l4 + kIcmpChecksum, detail::adjust_icmp(load_raw16(l4 + kIcmpChecksum), rw.l4_delta));
  } else {
    std::memcpy(l4, &rw.src_port, 2);
    std::memcpy(l4 + 2, &rw.dst_port, 2);
    const size_t at = q.tuple.protocol == wire::ipv4::kProtoTcp ? kTcpChecksum : kUdpChecksum;
    if (l4_len >= at + 2) {
      const uint16_t c = load_raw16(l4 + at);
      if (!(q.tuple.protocol == wire::ipv4::kProtoUdp && c == 0)) {
        const uint16_t n = adjust(c, rw.l4_delta);
        store_raw16(l4 + at, (n == 0 && q.tuple.protocol == wire::ipv4::kProtoUdp) ? 0xffff : n);
      }
    }
  }
  // The outer header (RFC 5508 §4.2, REQ-3 and REQ-4): an error leaving comes from the external
  // address, whichever inside host or router made it; an error arriving goes to the inside host.
  if (outbound) std::memcpy(ip + wire::ipv4::kSrc, &quoted_new.dst_ip, 4);
  else std::memcpy(ip + wire::ipv4::kDst, &quoted_new.src_ip, 4);
  // Both checksums recomputed in full: this is cold code, and the ICMP one covers the quote.
  const size_t hl = wire::ipv4::header_len(ip);
  uint8_t* icmp = ip + hl;
  wire::store16(icmp, wire::icmp::kChecksum, 0);
  wire::store16(icmp, wire::icmp::kChecksum, wire::internet_checksum(icmp, len - hl));
  wire::store16(ip, wire::ipv4::kChecksum, 0);
  wire::store16(ip, wire::ipv4::kChecksum, wire::internet_checksum(ip, hl));
}

}  // namespace redline::nat
