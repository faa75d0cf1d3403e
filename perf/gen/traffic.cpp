#include "perf/gen/traffic.hpp"

#include <cstring>

#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/udp.hpp"

namespace redline::gen {

namespace {
constexpr size_t kTcpHeaderLen = 20;
constexpr size_t kFcsLen = 4;

size_t l4_header_len(Protocol p) { return p == Protocol::kTcp ? kTcpHeaderLen : 8; }

void write_l4(uint8_t* l4, Protocol p, uint16_t src_port, uint16_t dst_port, uint16_t l4_len, uint32_t flow) {
  switch (p) {
    case Protocol::kUdp:
      wire::store16(l4, wire::udp::kSrcPort, src_port);
      wire::store16(l4, wire::udp::kDstPort, dst_port);
      wire::store16(l4, wire::udp::kLength, l4_len);
      wire::store16(l4, wire::udp::kChecksum, 0);  // RFC 768: zero means "not computed"
      break;
    case Protocol::kTcp:
      wire::store16(l4, 0, src_port);
      wire::store16(l4, 2, dst_port);
      wire::store32(l4, 4, flow);  // sequence number
      wire::store32(l4, 8, 0);
      wire::store8(l4, 12, 5 << 4);  // data offset 5 words
      wire::store8(l4, 13, 0x10);    // ACK: mid-connection traffic
      wire::store16(l4, 14, 65535);
      wire::store16(l4, 16, 0);      // checksum: not checked by a router
      wire::store16(l4, 18, 0);
      break;
    case Protocol::kIcmpEcho:
      wire::store8(l4, wire::icmp::kType, wire::icmp::kEchoRequest);
      wire::store8(l4, wire::icmp::kCode, 0);
      wire::store16(l4, wire::icmp::kChecksum, 0);
      wire::store16(l4, 4, uint16_t(flow));  // identifier
      wire::store16(l4, 6, 0);
      break;
  }
}
}  // namespace

std::optional<FlowTemplates> FlowTemplates::build(const TrafficSpec& spec, std::string* error) {
  FlowTemplates t;
  t.protocol_ = spec.protocol;
  t.frame_len_ = spec.frame_size - kFcsLen;
  t.l4_offset_ = wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen;
  t.stamp_offset_ = t.l4_offset_ + l4_header_len(spec.protocol);
  if (t.frame_len_ < t.stamp_offset_ + kStampLen || spec.frame_size > 1518) {
    *error = "frame size " + std::to_string(spec.frame_size) + " cannot carry the " +
             (spec.protocol == Protocol::kTcp ? "TCP" : "UDP/ICMP") + " headers and stamp (min " +
             std::to_string(t.stamp_offset_ + kStampLen + kFcsLen) + ", max 1518)";
    return std::nullopt;
  }
  if (spec.flows_per_ip == 0 || spec.flows_per_ip > 60000) {
    *error = "flows per address must be 1 to 60000";
    return std::nullopt;
  }
  if (spec.flows == 0 || spec.flows > 1'000'000) {
    *error = "flows must be 1 to 1000000";
    return std::nullopt;
  }
  for (uint32_t f = 0; f < spec.flows; ++f) {
    std::vector<uint8_t> frame(t.frame_len_, 0);
    wire::eth::write(frame.data(), spec.dst_mac, spec.src_mac, wire::eth::kTypeIpv4);
    wire::ipv4::Repr ip;
    ip.total_len = uint16_t(t.frame_len_ - wire::eth::kHeaderLen);
    ip.ttl = 64;
    ip.protocol = spec.protocol == Protocol::kUdp   ? wire::ipv4::kProtoUdp
                  : spec.protocol == Protocol::kTcp ? wire::ipv4::kProtoTcp
                                                    : wire::ipv4::kProtoIcmp;
    ip.src = net::Ipv4Addr{spec.src_ip.value + f / spec.flows_per_ip};
    ip.dst = spec.dst_ip;
    wire::ipv4::write(frame.data() + wire::eth::kHeaderLen, ip);
    write_l4(frame.data() + t.l4_offset_, spec.protocol, uint16_t(1024 + f % spec.flows_per_ip), spec.dst_port,
             uint16_t(ip.total_len - wire::ipv4::kMinHeaderLen), f);
    t.frames_.push_back(std::move(frame));
  }
  return t;
}

void FlowTemplates::write_unique_source(uint8_t* frame, uint64_t n) const {
  const uint32_t first = wire::load32(frames_[0].data() + wire::eth::kHeaderLen, wire::ipv4::kSrc);
  uint8_t* ip = frame + wire::eth::kHeaderLen;
  const uint16_t old_hi = wire::load16(ip, wire::ipv4::kSrc), old_lo = wire::load16(ip, wire::ipv4::kSrc + 2);
  // The address varies fastest: any window of recent packets spreads over all 250 inside
  // addresses, so over the whole NAT pool they are paired with.
  wire::store32(ip, wire::ipv4::kSrc, first + uint32_t(n % 250));
  uint16_t c = wire::load16(ip, wire::ipv4::kChecksum);
  c = wire::checksum_update16(c, old_hi, wire::load16(ip, wire::ipv4::kSrc));
  c = wire::checksum_update16(c, old_lo, wire::load16(ip, wire::ipv4::kSrc + 2));
  wire::store16(ip, wire::ipv4::kChecksum, c);
  const uint16_t port = uint16_t(1024 + n / 250 % 60000);
  if (protocol_ == Protocol::kIcmpEcho) wire::store16(frame + l4_offset_, 4, port);
  else wire::store16(frame + l4_offset_, 0, port);
}

void FlowTemplates::renew(uint32_t flow, uint16_t src_port) {
  if (protocol_ == Protocol::kIcmpEcho) {
    wire::store16(frames_[flow].data() + l4_offset_, 4, src_port);  // a new echo identifier
  } else {
    wire::store16(frames_[flow].data() + l4_offset_, 0, src_port);
  }
}

std::optional<size_t> stamp_offset_of(const uint8_t* frame, size_t len) {
  if (len < wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen || wire::eth::type(frame) != wire::eth::kTypeIpv4)
    return std::nullopt;
  const uint8_t* ip = frame + wire::eth::kHeaderLen;
  size_t l4 = wire::eth::kHeaderLen + wire::ipv4::header_len(ip);
  uint8_t proto = ip[wire::ipv4::kProtocol];
  size_t off = l4 + (proto == wire::ipv4::kProtoTcp ? kTcpHeaderLen : 8);
  if (off + kStampLen > len) return std::nullopt;
  uint32_t magic;
  std::memcpy(&magic, frame + off + 8, 4);
  if (magic != kStampMagic) return std::nullopt;
  return off;
}

}  // namespace redline::gen
