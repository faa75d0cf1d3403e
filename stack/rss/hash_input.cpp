#include "stack/rss/hash_input.hpp"

#include <cstring>

#include "stack/rss/toeplitz.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::rss {

static_assert(kMaxHashInput <= Toeplitz::kMaxInput, "the byte-table Toeplitz must cover every input");

size_t hash_input(const uint8_t* ip, size_t len, HashFields fields, uint8_t* out) {
  namespace v4 = wire::ipv4;
  std::memcpy(out, ip + v4::kSrc, kAddressInputLen);  // src and dst are adjacent
  const uint8_t proto = ip[v4::kProtocol];
  const bool ports = (proto == v4::kProtoTcp && fields.tcp_ports) || (proto == v4::kProtoUdp && fields.udp_ports);
  if (!ports) return kAddressInputLen;
  const uint16_t frag = wire::load16(ip, v4::kFlagsFragment);
  if ((frag & (v4::kFlagMoreFragments | v4::kFragmentOffsetMask)) != 0) return kAddressInputLen;
  const size_t ihl = v4::header_len(ip);
  if (len < ihl + 4) return kAddressInputLen;  // ports not in the buffer
  std::memcpy(out + kAddressInputLen, ip + ihl, 4);
  return kPortsInputLen;
}

size_t tuple_hash_input(const net::FiveTuple& t, HashFields fields, uint8_t* out) {
  namespace v4 = wire::ipv4;
  std::memcpy(out, &t.src_ip, 4);
  std::memcpy(out + 4, &t.dst_ip, 4);
  const bool ports = (t.protocol == v4::kProtoTcp && fields.tcp_ports) || (t.protocol == v4::kProtoUdp && fields.udp_ports);
  if (!ports) return kAddressInputLen;
  std::memcpy(out + 8, &t.src_port, 2);
  std::memcpy(out + 10, &t.dst_port, 2);
  return kPortsInputLen;
}

}  // namespace redline::rss
