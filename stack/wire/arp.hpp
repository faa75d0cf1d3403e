// ARP for IPv4 over Ethernet (RFC 826 "Packet format").
#pragma once

#include <optional>

#include "stack/wire/bytes.hpp"

namespace redline::wire::arp {

constexpr size_t kHardwareType = 0;
constexpr size_t kProtocolType = 2;
constexpr size_t kHardwareLen = 4;
constexpr size_t kProtocolLen = 5;
constexpr size_t kOperation = 6;
constexpr size_t kSenderMac = 8;
constexpr size_t kSenderIp = 14;
constexpr size_t kTargetMac = 18;
constexpr size_t kTargetIp = 24;
constexpr size_t kLen = 28;

constexpr uint16_t kHardwareEthernet = 1;
constexpr uint16_t kProtocolIpv4 = 0x0800;
constexpr uint16_t kOpRequest = 1;
constexpr uint16_t kOpReply = 2;

// The validated form of an Ethernet/IPv4 ARP packet.
struct Repr {
  uint16_t operation = 0;
  net::MacAddr sender_mac;
  net::Ipv4Addr sender_ip;
  net::MacAddr target_mac;
  net::Ipv4Addr target_ip;
  friend bool operator==(const Repr&, const Repr&) = default;
};

enum class ParseError { kTruncated, kBadHardware, kBadProtocol, kBadOperation };

struct ParseResult {
  std::optional<Repr> repr;
  ParseError error{};
};

ParseResult parse(const uint8_t* p, size_t len);
void write(uint8_t* p, const Repr& r);  // writes kLen bytes

}  // namespace redline::wire::arp
