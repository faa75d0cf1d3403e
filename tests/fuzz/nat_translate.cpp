// Fuzz target: the NAT's pure packet work on whatever crosses it: the flow key, the rewrite of
// addresses, ports and echo identifiers with incremental checksums (stack/nat/rewrite.hpp,
// RFC 1624), ICMP errors with the datagram they quote (stack/nat/icmp_error.*, RFC 5508 §4.2),
// MSS clamping (stack/nat/mss_clamp.hpp) and the TCP state a session follows
// (stack/nat/tcp_tracking.hpp, RFC 5382 §5).
//
// Input: a flags byte (direction, which checksums the harness makes valid first), the tuple to
// translate to (addresses, ports), an MSS to clamp to, then one IPv4 datagram as classify passes
// it on: its header valid (ipv4::parse), cut to its total length, in a buffer of exactly that
// size. A mutated packet's checksums are rarely valid, so the harness can compute them before
// translating (inner ones first); the invariants are about valid sums staying valid:
//  - every checksum that verified before a rewrite verifies after it, and a UDP checksum of zero
//    (none sent, RFC 768) stays zero;
//  - the packet then carries the new tuple (its flow key, or for an error the quoted tuple and
//    the outer address on the session's side);
//  - the rewrite back restores every byte, checksum fields equal modulo 0xffff (0x0000 and
//    0xffff are the two zeros of ones' complement);
//  - clamping touches only the MSS value and the checksum, and never raises the MSS.
#include <cstring>
#include <vector>

#include "stack/nat/icmp_error.hpp"
#include "stack/nat/mss_clamp.hpp"
#include "stack/nat/rewrite.hpp"
#include "stack/nat/tcp_tracking.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/tcp.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace redline;
using net::FiveTuple;
using Bytes = std::vector<uint8_t>;
namespace v4 = wire::ipv4;

namespace {

constexpr uint8_t kOutbound = 1;        // the error leaves by the outside (made inside)
constexpr uint8_t kFixOuterIp = 2;      // make the outer IPv4 header checksum valid first
constexpr uint8_t kFixL4 = 4;           // likewise the TCP/UDP/ICMP checksum
constexpr uint8_t kFixQuoted = 8;       // likewise the quoted datagram's header and L4 checksums
constexpr uint8_t kLaterFragment = 16;  // also rewrite the datagram as a later fragment (no L4)

size_t ihl(const uint8_t* ip) { return v4::header_len(ip); }

void fix_ip_checksum(uint8_t* ip) {
  wire::store16(ip, v4::kChecksum, 0);
  wire::store16(ip, v4::kChecksum, wire::internet_checksum(ip, ihl(ip)));
}

// Offset of the L4 checksum field, 0 when the protocol has none the NAT patches.
size_t l4_checksum_field(uint8_t proto) {
  if (proto == v4::kProtoTcp) return nat::kTcpChecksum;
  if (proto == v4::kProtoUdp) return nat::kUdpChecksum;
  if (proto == v4::kProtoIcmp) return nat::kIcmpChecksum;
  return 0;
}

// The pseudo-header sum of RFC 9293 §3.1 / RFC 768 for TCP and UDP; ICMP has none (RFC 792).
uint32_t pseudo_sum(const uint8_t* ip, uint8_t proto, size_t l4_len) {
  if (proto == v4::kProtoIcmp) return 0;
  return wire::tcp::pseudo_header_sum(v4::src(ip).value, v4::dst(ip).value, proto, uint16_t(l4_len));
}

// Whether the L4 checksum of the datagram at `ip` (its L4 part `l4_len` bytes) verifies. A UDP
// checksum of zero means none was sent: "verifies" is then false, and it must stay zero.
bool l4_ok(const uint8_t* ip, size_t l4_len) {
  const uint8_t proto = ip[v4::kProtocol];
  const size_t field = l4_checksum_field(proto);
  if (!field || l4_len < field + 2) return false;
  const uint8_t* l4 = ip + ihl(ip);
  if (proto == v4::kProtoUdp && wire::load16(l4, field) == 0) return false;
  return wire::ones_complement_sum(l4, l4_len, pseudo_sum(ip, proto, l4_len)) == 0xffff;
}

void fix_l4_checksum(uint8_t* ip, size_t l4_len) {
  const uint8_t proto = ip[v4::kProtocol];
  const size_t field = l4_checksum_field(proto);
  if (!field || l4_len < field + 2) return;
  uint8_t* l4 = ip + ihl(ip);
  wire::store16(l4, field, 0);
  uint16_t c = uint16_t(~wire::ones_complement_sum(l4, l4_len, pseudo_sum(ip, proto, l4_len)));
  if (proto == v4::kProtoUdp && c == 0) c = 0xffff;
  wire::store16(l4, field, c);
}

bool same_mod_ffff(uint16_t a, uint16_t b) { return a % 0xffff == b % 0xffff; }

// `after` equals `before` but at the two-byte checksum fields listed, which agree modulo 0xffff.
void check_restored(const Bytes& before, const Bytes& after, std::initializer_list<size_t> checksum_fields) {
  FUZZ_CHECK(before.size() == after.size());
  Bytes a = after, b = before;
  for (size_t at : checksum_fields) {
    if (at == 0 || at + 2 > a.size()) continue;
    FUZZ_CHECK(same_mod_ffff(wire::load16(a.data(), at), wire::load16(b.data(), at)));
    wire::store16(a.data(), at, 0);
    wire::store16(b.data(), at, 0);
  }
  FUZZ_CHECK(a == b);
}

FiveTuple tuple_for(const FiveTuple& from, fuzz::Input& in) {
  FiveTuple to = from;
  to.src_ip = in.u32();
  to.dst_ip = in.u32();
  to.src_port = in.u16();
  to.dst_port = in.u16();
  if (from.protocol == v4::kProtoIcmp) to.dst_port = to.src_port;  // the identifier, in both
  return to;
}

// A TCP/UDP/echo datagram with its ports: the session rewrite, there and back.
void check_session_rewrite(Bytes dgram, fuzz::Input& in, uint8_t flags) {
  uint8_t* ip = dgram.data();
  const size_t hl = ihl(ip);
  const uint32_t l4_len = uint32_t(dgram.size() - hl);
  uint8_t* l4 = ip + hl;
  FiveTuple from;
  if (!nat::flow_key(ip, l4, l4_len, &from)) return;
  const uint8_t proto = from.protocol;
  if (flags & kFixL4) fix_l4_checksum(ip, l4_len);
  if (flags & kFixOuterIp) fix_ip_checksum(ip);
  const bool ip_ok = wire::checksum_ok(ip, hl), l4_was_ok = l4_ok(ip, l4_len);
  const size_t field = l4_checksum_field(proto);
  const bool udp_none = proto == v4::kProtoUdp && wire::load16(l4, field) == 0;
  const Bytes before = dgram;

  const FiveTuple to = tuple_for(from, in);
  nat::apply(nat::make_rewrite(from, to), proto, ip, l4);
  FiveTuple now;
  FUZZ_CHECK(nat::flow_key(ip, l4, l4_len, &now) && now == to);
  if (ip_ok) FUZZ_CHECK(wire::checksum_ok(ip, hl));
  if (l4_was_ok) FUZZ_CHECK(l4_ok(ip, l4_len));
  if (udp_none) FUZZ_CHECK(wire::load16(l4, field) == 0);
  // The session's other direction undoes it (a reply's rewrite is make_rewrite(reversed...)).
  nat::apply(nat::make_rewrite(to, from), proto, ip, l4);
  check_restored(before, dgram, {v4::kChecksum, hl + field});

  // A later fragment of the same datagram: addresses only, the L4 bytes are payload.
  if (flags & kLaterFragment) {
    FiveTuple to_addr = from;
    to_addr.src_ip = to.src_ip;
    to_addr.dst_ip = to.dst_ip;
    const Bytes whole = dgram;
    nat::apply(nat::make_rewrite(from, to_addr), proto, ip, nullptr);
    FUZZ_CHECK(std::memcmp(dgram.data() + hl, whole.data() + hl, l4_len) == 0);
    if (ip_ok) FUZZ_CHECK(wire::checksum_ok(ip, hl));
  }
}

// RFC 9293 §3.7.1 MSS on a SYN crossing the NAT, lowered to `mss`.
void check_mss_clamp(Bytes dgram, uint16_t mss, uint8_t flags) {
  uint8_t* ip = dgram.data();
  if (ip[v4::kProtocol] != v4::kProtoTcp) return;
  const size_t hl = ihl(ip);
  const size_t l4_len = dgram.size() - hl;
  if (flags & kFixL4) fix_l4_checksum(ip, l4_len);
  const bool was_ok = l4_ok(ip, l4_len);
  const Bytes before = dgram;
  uint8_t* tcp = ip + hl;
  const bool clamped = nat::clamp_mss(tcp, l4_len, mss);
  if (!clamped) {
    FUZZ_CHECK(dgram == before);
    return;
  }
  if (was_ok) FUZZ_CHECK(l4_ok(ip, l4_len));
  // Exactly one MSS value changed, downwards, to `mss`.
  size_t changed = 0, where = 0;
  for (size_t i = 0; i < l4_len; ++i)
    if (dgram[hl + i] != before[hl + i] && i != nat::kTcpChecksum && i != nat::kTcpChecksum + 1) ++changed, where = where ? where : i;
  FUZZ_CHECK(changed <= 2);
  const size_t toff = wire::tcp::header_len(tcp);
  FUZZ_CHECK(toff >= wire::tcp::kMinHeaderLen && toff <= l4_len);
  bool found = false;
  for (size_t i = wire::tcp::kMinHeaderLen; i + 4 <= toff; ++i)
    if (tcp[i] == wire::tcp::kOptMss && tcp[i + 1] == 4 && wire::load16(tcp, i + 2) == mss &&
        wire::load16(before.data() + hl, i + 2) > mss)
      found = true;
  FUZZ_CHECK(found);
}

// An ICMP error quoting a datagram the NAT translated.
void check_icmp_error(Bytes dgram, fuzz::Input& in, uint8_t flags) {
  uint8_t* ip = dgram.data();
  const size_t hl = ihl(ip), len = dgram.size();
  if (ip[v4::kProtocol] != v4::kProtoIcmp) return;
  // The harness's fix-ups need the quote's shape; parse first, then make sums valid, then parse
  // again (a fix-up changes no field parse_icmp_error reads but the checksums).
  auto q = nat::parse_icmp_error(ip, len);
  if (!q) return;
  FUZZ_CHECK(q->offset == hl + wire::icmp::kHeaderLen && q->offset + q->length == len);
  uint8_t* quoted = ip + q->offset;
  const size_t qhl = ihl(quoted);
  FUZZ_CHECK(qhl >= v4::kMinHeaderLen && q->length >= qhl + 8);
  const uint8_t qproto = q->tuple.protocol;
  FUZZ_CHECK(qproto == v4::kProtoTcp || qproto == v4::kProtoUdp || qproto == v4::kProtoIcmp);
  // The quoted datagram as far as the quote holds it: whole when its total length fits, and
  // then its L4 checksum can be judged (with the 8 bytes RFC 792 quotes at least: an echo's
  // identifier lies in them).
  const size_t qtotal = wire::load16(quoted, v4::kTotalLength);
  const bool whole = qtotal >= qhl + 8 && qtotal <= q->length;
  if (flags & kFixQuoted) {
    if (whole) fix_l4_checksum(quoted, qtotal - qhl);
    fix_ip_checksum(quoted);
  }
  if (flags & kFixL4) {
    wire::store16(ip + hl, wire::icmp::kChecksum, 0);
    wire::store16(ip + hl, wire::icmp::kChecksum, wire::internet_checksum(ip + hl, len - hl));
  }
  if (flags & kFixOuterIp) fix_ip_checksum(ip);
  q = nat::parse_icmp_error(ip, len);
  FUZZ_CHECK(q.has_value());
  const bool quoted_ip_ok = wire::checksum_ok(quoted, qhl);
  const bool quoted_l4_ok = whole && l4_ok(quoted, qtotal - qhl);
  const bool quoted_udp_none = whole && qproto == v4::kProtoUdp && wire::load16(quoted + qhl, nat::kUdpChecksum) == 0;

  const FiveTuple quoted_new = tuple_for(q->tuple, in);
  const bool outbound = flags & kOutbound;
  nat::rewrite_icmp_error(ip, len, *q, quoted_new, outbound);

  // RFC 5508 §4.2: the quote now names the translated datagram, and the outer header the
  // session's side; the checksums the function recomputes verify always, the patched ones
  // verify if they did.
  const auto after = nat::parse_icmp_error(ip, len);
  FUZZ_CHECK(after && after->tuple == quoted_new);
  FUZZ_CHECK(wire::checksum_ok(ip, hl));
  FUZZ_CHECK(wire::checksum_ok(ip + hl, len - hl));
  uint32_t outer;
  std::memcpy(&outer, ip + (outbound ? v4::kSrc : v4::kDst), 4);
  FUZZ_CHECK(outer == (outbound ? quoted_new.dst_ip : quoted_new.src_ip));
  if (quoted_ip_ok) FUZZ_CHECK(wire::checksum_ok(quoted, qhl));
  if (quoted_l4_ok) FUZZ_CHECK(l4_ok(quoted, qtotal - qhl));
  if (quoted_udp_none) FUZZ_CHECK(wire::load16(quoted + qhl, nat::kUdpChecksum) == 0);
}

// RFC 5382 §5: the tracker's state from a run of flags, alternating directions.
void check_tcp_tracking(const Bytes& dgram) {
  nat::TcpTracking t;
  bool from_initiator = true;
  for (size_t i = ihl(dgram.data()); i < dgram.size() && i < 64; ++i) {
    const uint8_t f = dgram[i];
    const nat::TcpState before = t.state;
    const bool restarted = t.on_segment(f, from_initiator);
    if (restarted) {
      FUZZ_CHECK((f & (nat::kTcpSyn | nat::kTcpAck | nat::kTcpRst)) == nat::kTcpSyn);
      FUZZ_CHECK(before == nat::TcpState::kFinBoth || before == nat::TcpState::kReset);
      FUZZ_CHECK(t.state == nat::TcpState::kSynSent && t.fin_from == 0);
    }
    if (f & nat::kTcpRst) FUZZ_CHECK(t.state == nat::TcpState::kReset);
    FUZZ_CHECK(t.fin_from <= 3);
    from_initiator = (f & 0x80) ? !from_initiator : from_initiator;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  const Bytes tuple_bytes = in.bytes(12);
  const uint16_t mss = in.u16();
  const Bytes packet = in.rest();
  // Classify's promise to the NAT stage: a valid IPv4 header within the frame; the stage then
  // works on total_len bytes.
  const auto r = v4::parse(packet.data(), packet.size(), false);
  if (!r.repr) return 0;
  const Bytes dgram(packet.begin(), packet.begin() + r.repr->total_len);

  fuzz::Input t1(tuple_bytes.data(), tuple_bytes.size());
  if (!r.repr->is_fragment() || (flags & kLaterFragment)) check_session_rewrite(dgram, t1, flags);
  if (r.repr->is_first_fragment_or_whole()) check_mss_clamp(dgram, mss, flags);
  fuzz::Input t2(tuple_bytes.data(), tuple_bytes.size());
  check_icmp_error(dgram, t2, flags);
  check_tcp_tracking(dgram);
  return 0;
}
