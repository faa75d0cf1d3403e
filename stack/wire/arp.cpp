#include "stack/wire/arp.hpp"

namespace redline::wire::arp {

ParseResult parse(const uint8_t* p, size_t len) {
  if (len < kLen) return {std::nullopt, ParseError::kTruncated};
  // RFC 826 "Packet Reception": check ar$hrd/ar$hln, then ar$pro/ar$pln, before anything else.
  if (load16(p, kHardwareType) != kHardwareEthernet || load8(p, kHardwareLen) != 6)
    return {std::nullopt, ParseError::kBadHardware};
  if (load16(p, kProtocolType) != kProtocolIpv4 || load8(p, kProtocolLen) != 4)
    return {std::nullopt, ParseError::kBadProtocol};
  uint16_t op = load16(p, kOperation);
  if (op != kOpRequest && op != kOpReply) return {std::nullopt, ParseError::kBadOperation};
  return {Repr{op, load_mac(p, kSenderMac), load_ip(p, kSenderIp), load_mac(p, kTargetMac),
               load_ip(p, kTargetIp)},
          {}};
}

void write(uint8_t* p, const Repr& r) {
  store16(p, kHardwareType, kHardwareEthernet);
  store16(p, kProtocolType, kProtocolIpv4);
  store8(p, kHardwareLen, 6);
  store8(p, kProtocolLen, 4);
  store16(p, kOperation, r.operation);
  store_mac(p, kSenderMac, r.sender_mac);
  store_ip(p, kSenderIp, r.sender_ip);
  store_mac(p, kTargetMac, r.target_mac);
  store_ip(p, kTargetIp, r.target_ip);
}

}  // namespace redline::wire::arp
