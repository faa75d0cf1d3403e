// What classify decides about a received frame's bytes, as pure functions: Ethernet (for us,
// and of a type we take), IPv4 validity (RFC 1812 §5.2.2) and martian sources (RFC 1812 §5.3.7).
// The classify stage (classify_stage.cpp) calls them on mbuf data; the fuzz target
// (tests/fuzz/classify_l4.cpp) on heap copies of exactly the frame, and checks that the fast
// path (common_ipv4_frame) never passes a frame the full checks would drop.
//
// `frame`/`len`: the frame's contiguous bytes (classify makes the headers contiguous first).
// `is_local(addr)`: whether an address is one of ours or one of our networks' broadcasts.
#pragma once

#include <cstdint>
#include <optional>

#include "stack/net/counters.hpp"
#include "stack/net/types.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/l4_checks.hpp"

namespace redline::pipeline {

enum class FrameKind : uint8_t { kDrop, kArp, kIpv4 };

struct EthernetVerdict {
  FrameKind kind = FrameKind::kDrop;
  net::Counter drop = net::Counter::eth_too_short;  // when kind is kDrop
};

inline EthernetVerdict check_ethernet(const uint8_t* frame, uint32_t len, const net::MacAddr& mac) {
  if (len < wire::eth::kHeaderLen) return {FrameKind::kDrop, net::Counter::eth_too_short};
  if (!wire::eth::dst_is(frame, mac) && !wire::eth::dst_is_broadcast(frame))
    return {FrameKind::kDrop, net::Counter::eth_for_others};
  const uint16_t type = wire::eth::type(frame);
  if (type == wire::eth::kTypeArp) return {FrameKind::kArp, {}};
  if (type != wire::eth::kTypeIpv4) return {FrameKind::kDrop, net::Counter::eth_unsupported_type};
  return {FrameKind::kIpv4, {}};
}

// RFC 1812 §5.3.7: a source that cannot name a single host is dropped, not answered: broadcast,
// multicast, loopback, class E, and "this network" 0/8 (0.0.0.0 itself is let through to
// limited broadcast, for DHCP, by check_ipv4).
inline bool martian_source(net::Ipv4Addr s) {
  return s.is_limited_broadcast() || s.is_multicast() || s.is_loopback() || (s.value >> 28) == 0xf ||
         ((s.value >> 24) == 0 && !s.is_unspecified());
}

struct Ipv4Verdict {
  std::optional<uint32_t> header_len;  // valid: the header's length; else `drop` says why
  net::Counter drop = net::Counter::ipv4_truncated;
};

// The IPv4 header at `ip`, `len` bytes of datagram after the Ethernet header.
template <typename IsLocal>
Ipv4Verdict check_ipv4(const uint8_t* ip, uint32_t len, wire::NicChecksum nic, IsLocal&& is_local) {
  if (nic == wire::NicChecksum::kBad) return {std::nullopt, net::Counter::ipv4_bad_checksum};
  auto parsed = wire::ipv4::parse(ip, len, nic != wire::NicChecksum::kGood);
  if (!parsed.repr) [[unlikely]] {
    static constexpr net::Counter kReasons[] = {net::Counter::ipv4_truncated, net::Counter::ipv4_bad_version,
                                                net::Counter::ipv4_bad_ihl, net::Counter::ipv4_bad_total_length,
                                                net::Counter::ipv4_bad_checksum};
    return {std::nullopt, kReasons[size_t(parsed.error)]};
  }
  const wire::ipv4::Repr& r = *parsed.repr;
  // RFC 1812 §5.3.7: martians, our own addresses and (RFC 1812 §4.2.3.1) the directed broadcast
  // of a network we are on are not valid sources.
  if (martian_source(r.src) || is_local(r.src) || (r.src.is_unspecified() && !r.dst.is_limited_broadcast())) [[unlikely]]
    return {std::nullopt, net::Counter::ipv4_bad_source};
  return {r.header_len, {}};
}

// The common case, checked with few loads: an IPv4 header without options, for our MAC, no
// checksum verdict of "bad", a valid total length and checksum, a plain unicast source (not
// 0/8, loopback, multicast or class E: one compare on the first octet, 1-126 and 128-223; not
// ours). Whatever fails any of these gets the whole checks above.
template <typename IsLocal>
bool common_ipv4_frame(const uint8_t* frame, uint32_t len, const net::MacAddr& mac, wire::NicChecksum nic,
                       IsLocal&& is_local) {
  // The IPv4 EtherType as the frame carries it (network byte order), for a compare without a swap.
  static constexpr uint16_t kRawTypeIpv4 = net::to_be(wire::eth::kTypeIpv4);
  const uint8_t* ip = frame + wire::eth::kHeaderLen;
  if (len < wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen || !wire::eth::dst_is(frame, mac) ||
      wire::load_raw16(frame + wire::eth::kType) != kRawTypeIpv4 || ip[wire::ipv4::kVersionIhl] != 0x45 ||
      nic == wire::NicChecksum::kBad)
    return false;
  const uint32_t total_len = wire::load16(ip, wire::ipv4::kTotalLength);
  if (total_len < wire::ipv4::kMinHeaderLen || total_len > len - wire::eth::kHeaderLen) return false;
  if (nic != wire::NicChecksum::kGood && !wire::ipv4_header_checksum_ok(ip, wire::ipv4::kMinHeaderLen)) return false;
  const net::Ipv4Addr src = wire::ipv4::src(ip);
  const uint32_t first = src.value >> 24;
  return first - 1 < 223 && first != 127 && !is_local(src);
}

}  // namespace redline::pipeline
