// Fuzz target: classify's checks on a received frame (stack/pipeline/frame_check.hpp) and the
// TCP and UDP stages' header checks (stack/wire/l4_checks.hpp), the pure functions the stages
// run on mbuf data.
//
// Input: one byte of settings (the NIC's IP checksum verdict, whether the frame is
// addressed to our MAC), then one Ethernet frame. Each function gets its own heap copy of
// exactly the bytes it may read (the frame; then the datagram, total length and no more), so
// ASan reports a read one byte past them. Invariants: the fast path passes only frames the full
// checks pass; a valid IPv4 verdict means a header and datagram that fit and verify; a TCP or UDP
// length accepted fits in the datagram; checksum verdicts agree with a plain RFC 1071 sum, and
// a UDP sum the caller supplies (a chained mbuf's) gives the same verdict as the bytes.
#include <algorithm>
#include <cstring>
#include <vector>

#include "stack/pipeline/frame_check.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace redline;
using Bytes = std::vector<uint8_t>;

namespace {

const net::MacAddr kOurMac{{0x02, 0, 0, 0, 0, 0x02}};
constexpr uint32_t kOurAddress = 0x0a000002;    // 10.0.0.2
constexpr uint32_t kOurBroadcast = 0x0a0000ff;  // 10.0.0.255

bool is_local(net::Ipv4Addr a) { return a.value == kOurAddress || a.value == kOurBroadcast; }

wire::NicChecksum verdict(uint8_t bits) {
  return bits == 1 ? wire::NicChecksum::kGood : bits == 2 ? wire::NicChecksum::kBad : wire::NicChecksum::kUnknown;
}

void check_l4(const Bytes& datagram, uint32_t header_len) {
  const uint8_t* ip = datagram.data();
  const uint8_t protocol = ip[wire::ipv4::kProtocol];
  const uint32_t payload = uint32_t(datagram.size()) - header_len;
  const uint32_t pseudo_src = wire::ipv4::src(ip).value, pseudo_dst = wire::ipv4::dst(ip).value;
  if (protocol == wire::ipv4::kProtoTcp) {
    const uint32_t len = wire::tcp_segment_length(ip);
    if (!len) {
      FUZZ_CHECK(payload < wire::tcp::kMinHeaderLen || wire::tcp::header_len(ip + header_len) < wire::tcp::kMinHeaderLen ||
                 wire::tcp::header_len(ip + header_len) > payload);
      return;
    }
    FUZZ_CHECK(len == payload);
    FUZZ_CHECK(wire::tcp::header_len(ip + header_len) <= len);
    const uint16_t sum = fuzz::reference_sum(ip + header_len, len, wire::tcp::pseudo_header_sum(pseudo_src, pseudo_dst, 6, uint16_t(len)));
    FUZZ_CHECK(wire::tcp_checksum_ok(ip, len, wire::NicChecksum::kUnknown) == (sum == 0xffff));
    FUZZ_CHECK(wire::tcp_checksum_ok(ip, len, wire::NicChecksum::kGood));
    FUZZ_CHECK(!wire::tcp_checksum_ok(ip, len, wire::NicChecksum::kBad));
  } else if (protocol == wire::ipv4::kProtoUdp) {
    const uint32_t len = wire::udp_datagram_length(ip);
    if (!len) return;
    FUZZ_CHECK(len >= wire::udp::kHeaderLen && len <= payload);
    const uint8_t* l4 = ip + header_len;
    const bool none = wire::load16(l4, wire::udp::kChecksum) == 0;
    const uint16_t sum = fuzz::reference_sum(l4, len, wire::tcp::pseudo_header_sum(pseudo_src, pseudo_dst, 17, uint16_t(len)));
    FUZZ_CHECK(wire::udp_checksum_ok(ip, len, wire::NicChecksum::kUnknown) == (none || sum == 0xffff));
    const uint16_t bytes_only = fuzz::reference_sum(l4, len, 0);
    FUZZ_CHECK(wire::udp_checksum_ok(ip, len, wire::NicChecksum::kUnknown, &bytes_only) == (none || sum == 0xffff));
    FUZZ_CHECK(!wire::udp_checksum_ok(ip, len, wire::NicChecksum::kBad) == !none);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t settings = in.u8();
  const wire::NicChecksum ip_nic = verdict(settings & 3);
  Bytes frame = in.rest();
  if ((settings & 0x10) && frame.size() >= 6) std::memcpy(frame.data(), kOurMac.bytes.data(), 6);
  const uint32_t len = uint32_t(frame.size());

  const pipeline::EthernetVerdict eth = pipeline::check_ethernet(frame.data(), len, kOurMac);
  const bool common = len >= wire::eth::kHeaderLen && pipeline::common_ipv4_frame(frame.data(), len, kOurMac, ip_nic, is_local);
  if (eth.kind != pipeline::FrameKind::kIpv4) {
    FUZZ_CHECK(!common);
    if (eth.kind == pipeline::FrameKind::kArp) FUZZ_CHECK(wire::eth::type(frame.data()) == wire::eth::kTypeArp);
    return 0;
  }
  FUZZ_CHECK(len >= wire::eth::kHeaderLen && wire::eth::type(frame.data()) == wire::eth::kTypeIpv4);
  const Bytes after_eth(frame.begin() + wire::eth::kHeaderLen, frame.end());
  const pipeline::Ipv4Verdict v = pipeline::check_ipv4(after_eth.data(), uint32_t(after_eth.size()), ip_nic, is_local);
  if (common) FUZZ_CHECK(v.header_len && *v.header_len == wire::ipv4::kMinHeaderLen);
  if (!v.header_len) return 0;
  const uint8_t* ip = after_eth.data();
  const uint32_t total = wire::load16(ip, wire::ipv4::kTotalLength);
  FUZZ_CHECK(ip[0] >> 4 == 4);
  FUZZ_CHECK(*v.header_len >= wire::ipv4::kMinHeaderLen && *v.header_len <= total && total <= after_eth.size());
  if (ip_nic == wire::NicChecksum::kUnknown) FUZZ_CHECK(fuzz::reference_sum(ip, *v.header_len, 0) == 0xffff);
  FUZZ_CHECK(ip_nic != wire::NicChecksum::kBad);
  const net::Ipv4Addr src = wire::ipv4::src(ip);
  FUZZ_CHECK(!pipeline::martian_source(src) && !is_local(src));
  // What the TCP and UDP stages read: the datagram alone, total length and no more.
  check_l4(Bytes(ip, ip + total), *v.header_len);
  return 0;
}
