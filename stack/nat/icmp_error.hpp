// ICMP errors crossing a NAT (RFC 5508 §4.2, REQ-3 and REQ-4): an error quotes the datagram
// that caused it (RFC 792: its IP header and at least 8 bytes more; RFC 1812 §4.3.2.3: as much
// as fits in 576), so the quoted tuple names the session, and both it and the outer address on
// the session's side must be translated for the error to mean anything to the host behind the
// NAT: traceroute and path-MTU discovery (RFC 1191) depend on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "stack/net/five_tuple.hpp"

namespace redline::nat {

struct QuotedDatagram {
  size_t offset = 0;    // of the quoted IPv4 header, from the start of the outer one
  size_t length = 0;    // bytes of it present (header and what follows)
  net::FiveTuple tuple;  // TCP/UDP ports, or the echo identifier in both ports
};

// The datagram quoted by the ICMP error in the IPv4 packet `ip` (`len` bytes, header already
// validated by classify), when it is an error (RFC 792 destination unreachable, time exceeded,
// parameter problem, source quench) quoting a first fragment (or whole datagram) of TCP, UDP
// or an ICMP echo with at least its ports (identifier) present. nullopt otherwise.
std::optional<QuotedDatagram> parse_icmp_error(const uint8_t* ip, size_t len);

// Rewrites the error so the quoted datagram carries `quoted_new` instead of q.tuple, and the
// outer address on the NAT's far side: an error going out (`outbound`: made by an inside host
// or router) comes from the quoted datagram's new destination, the external address; one coming
// in goes to the quoted datagram's new source, the inside host. Fixes the quoted IPv4 and L4
// checksums incrementally (as far as they are present), and the ICMP and outer IPv4 checksums.
void rewrite_icmp_error(uint8_t* ip, size_t len, const QuotedDatagram& q, const net::FiveTuple& quoted_new, bool outbound);

}  // namespace redline::nat
