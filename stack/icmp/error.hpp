// Building ICMP error datagrams (RFC 792) and the rules for when not to (RFC 1812 §4.3.2.7,
// RFC 1122 §3.2.2). Pure byte logic: the pipeline supplies the buffer and sends the result.
#pragma once

#include <cstddef>
#include <cstdint>

#include "stack/net/types.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::icmp {

struct ErrorSpec {
  uint8_t type = 0;
  uint8_t code = 0;
  uint32_t rest = 0;  // the 32-bit word after the checksum (next-hop MTU for code 4)
};

// What the rules need to know about the datagram that caused the error.
struct Offender {
  const wire::ipv4::Repr* ip = nullptr;
  const uint8_t* datagram = nullptr;  // the IP header of the offending datagram
  bool link_broadcast = false;        // arrived in a link-layer broadcast/multicast frame
  bool dst_is_broadcast = false;      // addressed to a broadcast address of ours
};

// RFC 1812 §4.3.2.7: no error about an ICMP error, a datagram sent to a broadcast or multicast
// address (IP or link layer), a non-initial fragment, or one whose source does not name a single
// host.
bool error_allowed(const Offender& o);

// Writes IPv4 header + ICMP error + quoted datagram at `out` (capacity `cap`), quoting as much of
// the offender as keeps the whole within 576 bytes (RFC 1812 §4.3.2.3). Returns the IP total
// length written, or 0 if `cap` is too small for even the header and 8 quoted bytes.
size_t build_error(uint8_t* out, size_t cap, const Offender& o, const ErrorSpec& spec,
                   net::Ipv4Addr our_src, uint16_t ident);

}  // namespace redline::icmp
