// Fuzz target: the pure wire parsers and writers a received frame meets first (stack/wire:
// Ethernet, ARP, IPv4, ICMP, UDP, the Internet checksum), the ICMP error builder
// (stack/icmp/error.cpp) and the RSS hash input (stack/rss/hash_input.cpp).
//
// The input is one Ethernet frame as a port would hand it over. Every view a parser is given is
// its own heap copy of exactly the bytes it may read, so ASan reports a read one byte past the
// slice, not only past the frame. Where a repr form exists, parse -> write -> parse must give
// the same repr back, and every checksum the code writes or patches must verify (RFC 1071,
// RFC 1624). The checksum routines are also checked against a plain RFC 1071 reference sum.
#include <cstring>
#include <vector>

#include "stack/icmp/error.hpp"
#include "stack/rss/hash_input.hpp"
#include "stack/wire/arp.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/tcp.hpp"
#include "stack/wire/udp.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace redline;
using Bytes = std::vector<uint8_t>;

namespace {

void check_checksums(const Bytes& frame) {
  const uint32_t initial = frame.size() >= 4 ? wire::load32(frame.data(), 0) & 0x7ffff : 0;
  for (size_t skip : {size_t(0), size_t(1), size_t(3)}) {
    if (skip > frame.size()) break;
    const Bytes slice(frame.begin() + long(skip), frame.end());
    FUZZ_CHECK(wire::ones_complement_sum(slice.data(), slice.size(), initial) ==
               fuzz::reference_sum(slice.data(), slice.size(), initial));
    FUZZ_CHECK(wire::ones_complement_sum(slice.data(), slice.size()) == fuzz::reference_sum(slice.data(), slice.size(), 0));
  }
  // The IPv4 header fast check is the same RFC 1071 verification, for every length it accepts.
  for (size_t len = wire::ipv4::kMinHeaderLen; len <= 60 && len <= frame.size(); len += 4) {
    const Bytes header(frame.begin(), frame.begin() + long(len));
    FUZZ_CHECK(wire::ipv4_header_checksum_ok(header.data(), len) == wire::checksum_ok(header.data(), len));
  }
  // internet_checksum gives the value that makes the bytes verify (RFC 1071 §1): written into
  // a zeroed field at an even offset, the whole verifies (all-zero data has no such value).
  if (frame.size() >= 4) {
    Bytes b = frame;
    wire::store16(b.data(), 2, 0);
    wire::store16(b.data(), 2, wire::internet_checksum(b.data(), b.size()));
    bool all_zero = true;
    for (uint8_t x : b) all_zero = all_zero && x == 0;
    if (!all_zero) FUZZ_CHECK(wire::checksum_ok(b.data(), b.size()));
  }
}

void check_ethernet(const Bytes& frame) {
  const Bytes f(frame.begin(), frame.begin() + wire::eth::kHeaderLen);
  const net::MacAddr dst = wire::eth::dst(f.data()), src = wire::eth::src(f.data());
  const uint16_t type = wire::eth::type(f.data());
  FUZZ_CHECK(wire::eth::dst_is(f.data(), dst));
  FUZZ_CHECK(wire::eth::dst_is_broadcast(f.data()) == dst.is_broadcast());
  Bytes written(wire::eth::kHeaderLen);
  wire::eth::write(written.data(), dst, src, type);
  FUZZ_CHECK(written == f);
}

void check_arp(const Bytes& l3) {
  const auto r = wire::arp::parse(l3.data(), l3.size());
  if (!r.repr) {
    if (l3.size() < wire::arp::kLen) FUZZ_CHECK(r.error == wire::arp::ParseError::kTruncated);
    return;
  }
  FUZZ_CHECK(l3.size() >= wire::arp::kLen);
  FUZZ_CHECK(r.repr->operation == wire::arp::kOpRequest || r.repr->operation == wire::arp::kOpReply);
  // Every byte of the 28 is either checked against the one value RFC 826 allows for
  // Ethernet/IPv4 or kept in the repr, so writing the repr gives the same bytes back.
  Bytes written(wire::arp::kLen);
  wire::arp::write(written.data(), *r.repr);
  FUZZ_CHECK(std::memcmp(written.data(), l3.data(), wire::arp::kLen) == 0);
  const auto again = wire::arp::parse(written.data(), written.size());
  FUZZ_CHECK(again.repr && *again.repr == *r.repr);
}

// The datagram is exactly total_len bytes (Ethernet padding cut off, as the stages do).
void check_icmp(const Bytes& dgram, const wire::ipv4::Repr& ip) {
  const size_t hl = ip.header_len;
  if (dgram.size() - hl < wire::icmp::kHeaderLen) return;
  const Bytes icmp(dgram.begin() + long(hl), dgram.end());
  const uint8_t type = wire::icmp::type(icmp.data());
  FUZZ_CHECK(wire::icmp::is_error(type) == (type == 3 || type == 4 || type == 5 || type == 11 || type == 12));
  if (type == wire::icmp::kEchoRequest && wire::checksum_ok(icmp.data(), icmp.size())) {
    // RFC 792: the reply differs in its type only; RFC 1624 patches the checksum to match.
    Bytes reply = icmp;
    wire::icmp::echo_request_to_reply(reply.data());
    FUZZ_CHECK(wire::icmp::type(reply.data()) == wire::icmp::kEchoReply);
    FUZZ_CHECK(wire::checksum_ok(reply.data(), reply.size()));
    FUZZ_CHECK(std::memcmp(reply.data() + wire::icmp::kRest, icmp.data() + wire::icmp::kRest,
                           icmp.size() - wire::icmp::kRest) == 0);
  }
  // An error header written over the same quoted bytes verifies.
  Bytes err = icmp;
  wire::icmp::write_error(err.data(), type, wire::icmp::code(icmp.data()), wire::load32(icmp.data(), wire::icmp::kRest),
                          err.size() - wire::icmp::kHeaderLen);
  FUZZ_CHECK(wire::checksum_ok(err.data(), err.size()));
}

// UDP and TCP: the checksum the senders write (udp_stage.cpp send_to, tcp_stage.cpp MbufEnv)
// over the pseudo-header (RFC 768, RFC 9293 §3.1) makes the segment verify as the receivers
// check it.
void check_l4_checksum(const Bytes& dgram, const wire::ipv4::Repr& ip) {
  const size_t hl = ip.header_len;
  Bytes l4(dgram.begin() + long(hl), dgram.end());
  size_t len = l4.size();
  size_t field;
  if (ip.protocol == wire::ipv4::kProtoUdp) {
    if (len < wire::udp::kHeaderLen) return;
    const uint16_t udp_len = wire::load16(l4.data(), wire::udp::kLength);
    if (udp_len < wire::udp::kHeaderLen || udp_len > len) return;  // udp_stage drops it
    len = udp_len;
    field = wire::udp::kChecksum;
    (void)wire::udp::src_port(l4.data());
    (void)wire::udp::dst_port(l4.data());
  } else if (ip.protocol == wire::ipv4::kProtoTcp) {
    if (len < wire::tcp::kMinHeaderLen) return;
    field = wire::tcp::kChecksum;
  } else {
    return;
  }
  const uint32_t pseudo = wire::tcp::pseudo_header_sum(ip.src.value, ip.dst.value, ip.protocol, uint16_t(len));
  wire::store16(l4.data(), field, 0);
  uint16_t sum = uint16_t(~wire::ones_complement_sum(l4.data(), len, pseudo));
  if (ip.protocol == wire::ipv4::kProtoUdp && sum == 0) sum = 0xffff;  // RFC 768: 0 means none
  wire::store16(l4.data(), field, sum);
  FUZZ_CHECK(wire::ones_complement_sum(l4.data(), len, pseudo) == 0xffff);
}

// RFC 1812 §4.3.2.3: the error quotes the datagram's start, at most 576 bytes in all; both
// checksums verify and the outer header goes back to the offender's source.
void check_icmp_error_builder(const Bytes& dgram, const wire::ipv4::Repr& ip, uint16_t salt) {
  const icmp::Offender o{&ip, dgram.data(), bool(salt & 1), bool(salt & 2)};
  (void)icmp::error_allowed(o);
  const size_t cap = 20 + 8 + (salt >> 2) % 600;
  Bytes out(cap);
  const size_t n = icmp::build_error(out.data(), cap, o, {wire::icmp::kDestUnreachable, 1, 0},
                                     net::Ipv4Addr{0x0a0000fe}, salt);
  const size_t kOuter = wire::ipv4::kMinHeaderLen + wire::icmp::kHeaderLen;
  if (n == 0) {
    FUZZ_CHECK(cap < kOuter + std::min<size_t>(dgram.size(), ip.header_len + 8u));
    return;
  }
  FUZZ_CHECK(n <= cap && n <= wire::icmp::kMaxErrorDatagram && n > kOuter);
  FUZZ_CHECK(std::memcmp(out.data() + kOuter, dgram.data(), n - kOuter) == 0);
  FUZZ_CHECK(wire::checksum_ok(out.data() + wire::ipv4::kMinHeaderLen, n - wire::ipv4::kMinHeaderLen));
  const auto outer = wire::ipv4::parse(out.data(), n, true);
  FUZZ_CHECK(outer.repr && outer.repr->total_len == n && outer.repr->protocol == wire::ipv4::kProtoIcmp &&
             outer.repr->dst == ip.src);
}

// rss::hash_input reads the addresses, and the ports of an unfragmented TCP/UDP datagram when
// they are in the buffer; its bytes are the fields as they sit in the packet.
void check_rss_input(const Bytes& dgram, const wire::ipv4::Repr& ip, uint8_t salt) {
  const rss::HashFields fields{bool(salt & 1), bool(salt & 2)};
  uint8_t out[rss::kMaxHashInput];
  const size_t n = rss::hash_input(dgram.data(), dgram.size(), fields, out);
  FUZZ_CHECK(std::memcmp(out, dgram.data() + wire::ipv4::kSrc, rss::kAddressInputLen) == 0);
  const bool ports_hashed = (ip.protocol == wire::ipv4::kProtoTcp && fields.tcp_ports) ||
                            (ip.protocol == wire::ipv4::kProtoUdp && fields.udp_ports);
  const bool ports_present = dgram.size() >= ip.header_len + 4u;
  FUZZ_CHECK(n == ((ports_hashed && !ip.is_fragment() && ports_present) ? rss::kPortsInputLen : rss::kAddressInputLen));
  if (n != rss::kPortsInputLen) return;
  net::FiveTuple t;
  std::memcpy(&t.src_ip, dgram.data() + wire::ipv4::kSrc, 4);
  std::memcpy(&t.dst_ip, dgram.data() + wire::ipv4::kDst, 4);
  std::memcpy(&t.src_port, dgram.data() + ip.header_len, 2);
  std::memcpy(&t.dst_port, dgram.data() + ip.header_len + 2, 2);
  t.protocol = ip.protocol;
  uint8_t from_tuple[rss::kMaxHashInput];
  FUZZ_CHECK(rss::tuple_hash_input(t, fields, from_tuple) == n);
  FUZZ_CHECK(std::memcmp(out, from_tuple, n) == 0);
}

void check_ipv4(const Bytes& l3) {
  const auto unverified = wire::ipv4::parse(l3.data(), l3.size(), false);
  const auto r = wire::ipv4::parse(l3.data(), l3.size(), true);
  if (r.repr) FUZZ_CHECK(unverified.repr && *unverified.repr == *r.repr);
  if (!unverified.repr) {
    FUZZ_CHECK(!r.repr);
    return;
  }
  const wire::ipv4::Repr ip = *unverified.repr;
  // RFC 1812 §5.2.2: what a valid header promises the code after classify.
  FUZZ_CHECK(ip.header_len >= wire::ipv4::kMinHeaderLen && ip.header_len % 4 == 0);
  FUZZ_CHECK(ip.header_len <= ip.total_len && ip.total_len <= l3.size());
  FUZZ_CHECK(wire::ipv4::header_len(l3.data()) == ip.header_len && wire::ipv4::ttl(l3.data()) == ip.ttl);
  FUZZ_CHECK(wire::ipv4::src(l3.data()) == ip.src && wire::ipv4::dst(l3.data()) == ip.dst);
  FUZZ_CHECK(bool(r.repr) == wire::checksum_ok(l3.data(), ip.header_len));

  // parse -> write -> parse: the repr survives (write leaves options out: header_len 20).
  Bytes written(ip.total_len);
  wire::ipv4::write(written.data(), ip);
  const auto again = wire::ipv4::parse(written.data(), written.size(), true);
  wire::ipv4::Repr want = ip;
  want.header_len = wire::ipv4::kMinHeaderLen;
  FUZZ_CHECK(again.repr && *again.repr == want);

  if (r.repr) {
    Bytes header(l3.begin(), l3.begin() + ip.header_len);
    // RFC 1624 eqn. 3: one changed word, the checksum patched, still verifies.
    const uint16_t old_ident = wire::load16(header.data(), wire::ipv4::kIdent), new_ident = uint16_t(~old_ident * 31u);
    wire::store16(header.data(), wire::ipv4::kIdent, new_ident);
    wire::store16(header.data(), wire::ipv4::kChecksum,
                  wire::checksum_update16(wire::load16(header.data(), wire::ipv4::kChecksum), old_ident, new_ident));
    FUZZ_CHECK(wire::ipv4_header_checksum_ok(header.data(), header.size()));
    // RFC 1812 §5.3.1: the forwarding path's TTL decrement keeps the header valid.
    if (ip.ttl >= 1) {
      wire::ipv4::decrement_ttl(header.data());
      FUZZ_CHECK(wire::ipv4::ttl(header.data()) == ip.ttl - 1);
      FUZZ_CHECK(wire::ipv4_header_checksum_ok(header.data(), header.size()));
    }
  }

  const Bytes dgram(l3.begin(), l3.begin() + ip.total_len);
  if (ip.protocol == wire::ipv4::kProtoIcmp && ip.is_first_fragment_or_whole()) check_icmp(dgram, ip);
  check_l4_checksum(dgram, ip);
  check_icmp_error_builder(dgram, ip, ip.ident);
  check_rss_input(dgram, ip, uint8_t(ip.ident >> 8));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes frame(data, data + size);
  check_checksums(frame);
  if (frame.size() < wire::eth::kHeaderLen) return 0;
  check_ethernet(frame);
  // Both parsers see every payload, whatever the EtherType says (classify's choice is not what
  // is under test here, and the mutator need not find the type first).
  const Bytes l3(frame.begin() + wire::eth::kHeaderLen, frame.end());
  check_arp(l3);
  check_ipv4(l3);
  return 0;
}
