#include "stack/wire/ipv4.hpp"

namespace redline::wire::ipv4 {

ParseResult parse(const uint8_t* p, size_t len, bool verify_checksum) {
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

void write(uint8_t* p, const Repr& r) {
  store8(p, kVersionIhl, 0x45);
  store8(p, kTos, r.tos);
  store16(p, kTotalLength, r.total_len);
  store16(p, kIdent, r.ident);
  store16(p, kFlagsFragment, r.flags_fragment);
  store8(p, kTtl, r.ttl);
  store8(p, kProtocol, r.protocol);
  store16(p, kChecksum, 0);
  store_ip(p, kSrc, r.src);
  store_ip(p, kDst, r.dst);
  store16(p, kChecksum, internet_checksum(p, kMinHeaderLen));
}

}  // namespace redline::wire::ipv4
