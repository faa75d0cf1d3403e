// Which fields of an IPv4 packet the RSS hash covers, and the Toeplitz input built from them.
//
// Problem: software must hash exactly what the NIC hashes, or a flow that arrives on an RSS port
// (the NIC's hash picks its core) and on a port without RSS (software's hash picks it) is split
// across two cores. What a NIC hashes depends on the hash types it was configured with (rss_hf):
// with RTE_ETH_RSS_NONFRAG_IPV4_TCP an unfragmented TCP segment hashes addresses and ports,
// without it addresses only (or nothing; then the NIC gives no hash and software decides).
// Fragments and other protocols hash addresses only, so all fragments of a datagram meet on one
// core (a non-first fragment has no ports to hash).
//
// Choice: one small pure struct saying whether TCP and UDP ports are hashed, set once from the
// hash types the ports were configured with (drivers::hash_fields_for), and one function that
// builds the Toeplitz input from it. The pipeline's owner lookup and, later, the NAT and TCP
// local-port choice use the same function, so they cannot drift apart.
#pragma once

#include <cstddef>
#include <cstdint>

#include "stack/net/five_tuple.hpp"

namespace redline::rss {

struct HashFields {
  bool tcp_ports = true;  // unfragmented TCP: source and destination port after the addresses
  bool udp_ports = true;  // unfragmented UDP: likewise
  friend constexpr bool operator==(HashFields, HashFields) = default;
};

constexpr size_t kAddressInputLen = 8;   // src, dst
constexpr size_t kPortsInputLen = 12;    // src, dst, src port, dst port
constexpr size_t kMaxHashInput = kPortsInputLen;

// Writes the Toeplitz input for the IPv4 packet at `ip` into `out` (kMaxHashInput bytes), in
// network byte order as the fields sit in the packet (RFC 791 §3.1 for the addresses, fragment
// fields and IHL; ports are the first 4 bytes of the TCP and UDP headers), and returns its
// length: kPortsInputLen when `fields` says this packet's ports are hashed and they lie within
// `len`, else kAddressInputLen. `len` is the bytes available from `ip`; the header must already
// be validated (at least 20 bytes, IHL within `len`).
size_t hash_input(const uint8_t* ip, size_t len, HashFields fields, uint8_t* out);

// The same input for a packet that would carry `t` (unfragmented): what a packet redline has
// not seen yet (a NAT reply, the answer to a connect) will hash to.
size_t tuple_hash_input(const net::FiveTuple& t, HashFields fields, uint8_t* out);

}  // namespace redline::rss
