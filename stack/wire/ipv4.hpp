// IPv4 header (RFC 791 §3.1).
#pragma once

#include <optional>

#include "stack/wire/bytes.hpp"
#include "stack/wire/checksum.hpp"

namespace redline::wire::ipv4 {

constexpr size_t kVersionIhl = 0;
constexpr size_t kTos = 1;
constexpr size_t kTotalLength = 2;
constexpr size_t kIdent = 4;
constexpr size_t kFlagsFragment = 6;
constexpr size_t kTtl = 8;
constexpr size_t kProtocol = 9;
constexpr size_t kChecksum = 10;
constexpr size_t kSrc = 12;
constexpr size_t kDst = 16;
constexpr size_t kMinHeaderLen = 20;

constexpr uint16_t kFlagDontFragment = 0x4000;
constexpr uint16_t kFlagMoreFragments = 0x2000;
constexpr uint16_t kFragmentOffsetMask = 0x1fff;

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

// The validated form of a header: what the rest of the stack needs, in host units.
struct Repr {
  uint8_t header_len = kMinHeaderLen;  // bytes, options included
  uint8_t tos = 0;
  uint16_t total_len = 0;              // bytes, header included
  uint16_t ident = 0;
  uint16_t flags_fragment = 0;
  uint8_t ttl = 0;
  uint8_t protocol = 0;
  net::Ipv4Addr src;
  net::Ipv4Addr dst;

  bool is_fragment() const {
    return (flags_fragment & (kFlagMoreFragments | kFragmentOffsetMask)) != 0;
  }
  bool is_first_fragment_or_whole() const { return (flags_fragment & kFragmentOffsetMask) == 0; }
  bool dont_fragment() const { return (flags_fragment & kFlagDontFragment) != 0; }
  friend bool operator==(const Repr&, const Repr&) = default;
};

enum class ParseError { kTruncated, kBadVersion, kBadIhl, kBadTotalLength, kBadChecksum };

struct ParseResult {
  std::optional<Repr> repr;
  ParseError error{};
};

// RFC 1812 §5.2.2 validity checks: length, version, IHL, total length vs the frame, checksum.
// `verify_checksum` is false when the NIC already verified it. Inline: it runs for every packet.
inline ParseResult parse(const uint8_t* p, size_t len, bool verify_checksum = true) {
  if (len < kMinHeaderLen) return {std::nullopt, ParseError::kTruncated};
  uint8_t version_ihl = load8(p, kVersionIhl);
  if ((version_ihl >> 4) != 4) return {std::nullopt, ParseError::kBadVersion};
  uint8_t header_len = uint8_t((version_ihl & 0xf) * 4);
  if (header_len < kMinHeaderLen) return {std::nullopt, ParseError::kBadIhl};
  if (header_len > len) return {std::nullopt, ParseError::kTruncated};
  uint16_t total_len = load16(p, kTotalLength);
  // The frame may carry Ethernet padding past total_len, never less than total_len.
  if (total_len < header_len || total_len > len) return {std::nullopt, ParseError::kBadTotalLength};
  if (verify_checksum && !ipv4_header_checksum_ok(p, header_len)) return {std::nullopt, ParseError::kBadChecksum};
  Repr r;
  r.header_len = header_len;
  r.tos = load8(p, kTos);
  r.total_len = total_len;
  r.ident = load16(p, kIdent);
  r.flags_fragment = load16(p, kFlagsFragment);
  r.ttl = load8(p, kTtl);
  r.protocol = load8(p, kProtocol);
  r.src = load_ip(p, kSrc);
  r.dst = load_ip(p, kDst);
  return {r, {}};
}


// Writes a header without options (header_len is taken as 20) and fills in the checksum.
void write(uint8_t* p, const Repr& r);

inline uint8_t ttl(const uint8_t* p) { return load8(p, kTtl); }
inline net::Ipv4Addr src(const uint8_t* p) { return load_ip(p, kSrc); }
inline net::Ipv4Addr dst(const uint8_t* p) { return load_ip(p, kDst); }
inline uint8_t header_len(const uint8_t* p) { return uint8_t((load8(p, kVersionIhl) & 0xf) * 4); }

// Decrements TTL by one and patches the checksum incrementally (RFC 1624 §3, RFC 1812 §5.3.1):
// TTL is the high byte of the TTL/protocol word, so the word drops by 0x0100 and the checksum
// (its ones' complement) rises by 0x0100 with end-around carry (RFC 1141's form). RFC 1624's
// -0/+0 corner needs a sum of zero, which an IPv4 header (version 4 in its first byte) never has.
inline void decrement_ttl(uint8_t* p) {
  store8(p, kTtl, uint8_t(load8(p, kTtl) - 1));
  uint32_t sum = uint32_t(load16(p, kChecksum)) + 0x0100;
  store16(p, kChecksum, uint16_t(sum + (sum >> 16)));
}

}  // namespace redline::wire::ipv4
