// The checks the TCP and UDP stages make on a received segment or datagram before anything else
// reads it, as pure functions over the IPv4 datagram's bytes: the stages call them on mbuf
// data, the fuzz target (tests/fuzz/classify_l4.cpp) on heap copies of exactly the datagram.
//
// Precondition (classify's, pipeline/frame_check.hpp): `ip` holds a valid IPv4 header and the
// whole datagram, total length included, is readable and contiguous.
#pragma once

#include <cstdint>

#include "stack/wire/checksum.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/tcp.hpp"
#include "stack/wire/udp.hpp"

namespace redline::wire {

// What a NIC said about a checksum (RTE_MBUF_F_RX_*_CKSUM_*): nothing, verified good, or bad.
enum class NicChecksum : uint8_t { kUnknown, kGood, kBad };

// The TCP segment's length (header and data) if its header fits in the datagram, else 0 (a
// truncated segment: tcp_truncated).
inline uint32_t tcp_segment_length(const uint8_t* ip) {
  const uint32_t ihl = ipv4::header_len(ip);
  const uint32_t l4_len = load16(ip, ipv4::kTotalLength) - ihl;
  if (l4_len < tcp::kMinHeaderLen) return 0;
  const uint32_t hl = tcp::header_len(ip + ihl);
  return hl < tcp::kMinHeaderLen || hl > l4_len ? 0 : l4_len;
}

// RFC 9293 §3.1: the checksum over the pseudo-header and the whole segment must verify.
inline bool tcp_checksum_ok(const uint8_t* ip, uint32_t l4_len, NicChecksum nic) {
  if (nic != NicChecksum::kUnknown) return nic == NicChecksum::kGood;
  const uint32_t pseudo = tcp::pseudo_header_sum(ipv4::src(ip).value, ipv4::dst(ip).value, ipv4::kProtoTcp, uint16_t(l4_len));
  return ones_complement_sum(ip + ipv4::header_len(ip), l4_len, pseudo) == 0xffff;
}

// RFC 768: the UDP length field covers header and data and may not exceed the IP payload. The
// datagram's UDP length, or 0 when it is truncated or lies (udp_truncated).
inline uint32_t udp_datagram_length(const uint8_t* ip) {
  const uint32_t ihl = ipv4::header_len(ip);
  const uint32_t ip_payload = load16(ip, ipv4::kTotalLength) - ihl;
  if (ip_payload < udp::kHeaderLen) return 0;
  const uint32_t udp_len = load16(ip + ihl, udp::kLength);
  return udp_len < udp::kHeaderLen || udp_len > ip_payload ? 0 : udp_len;
}

// RFC 768 / RFC 1122 §4.1.3.4: a datagram whose checksum (non-zero) does not verify is
// discarded. `sum`: the ones' complement sum of the UDP bytes (udp_len of them) if the caller
// has it (a chained mbuf), else computed here over contiguous bytes.
inline bool udp_checksum_ok(const uint8_t* ip, uint32_t udp_len, NicChecksum nic, const uint16_t* sum = nullptr) {
  if (load16(ip + ipv4::header_len(ip), udp::kChecksum) == 0) return true;
  if (nic != NicChecksum::kUnknown) return nic == NicChecksum::kGood;
  const uint32_t pseudo = tcp::pseudo_header_sum(ipv4::src(ip).value, ipv4::dst(ip).value, ipv4::kProtoUdp, uint16_t(udp_len));
  // With the caller's sum, no bytes are summed here: the pseudo-header is only folded in.
  return (sum ? ones_complement_sum(nullptr, 0, uint32_t(*sum) + pseudo)
              : ones_complement_sum(ip + ipv4::header_len(ip), udp_len, pseudo)) == 0xffff;
}

}  // namespace redline::wire
