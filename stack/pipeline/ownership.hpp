// Which worker owns a packet: the one the symmetric Toeplitz hash of its tuple selects through
// the RETA mirror, the same answer the NIC gives on ports with RSS (drivers/port.cpp programs
// them from the same key and mirror). The NAT and TCP port choice predict owners with it too.
#pragma once

#include <rte_mbuf.h>

#include <cstring>

#include "stack/pipeline/shared.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::pipeline {

// `ip` is the packet's validated IPv4 header, in the first segment. Sets `*hash`.
inline uint32_t owner_of(const Shared& s, const rte_mbuf* m, uint16_t in_port, const uint8_t* ip, uint32_t* hash) {
  // The NIC's hash is the same Toeplitz with the same key as ours (ports are programmed so).
  if ((m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) && s.ports[in_port].rss) {
    *hash = m->hash.rss;
    return s.reta.owner(*hash);
  }
  // The fields the NICs hash (addresses; TCP/UDP ports of unfragmented segments where the ports'
  // NICs hash them), so a flow has one owner whichever port it arrives on, and all fragments of
  // a datagram meet on one core.
  uint8_t input[rss::kMaxHashInput];
  const size_t len = rss::hash_input(ip, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen, s.hash_fields, input);
  *hash = s.toeplitz.hash(input, len);
  return s.reta.owner(*hash);
}

// The worker that owns flow `t` (unfragmented, as it would arrive): what the symmetric hash of
// its tuple selects. NAT sessions and an ICMP error quoting a datagram we sent find their
// flow's worker so.
inline uint32_t owner_of_tuple(const Shared& s, const net::FiveTuple& t) {
  if (s.workers == 1) return 0;
  uint8_t input[rss::kMaxHashInput];
  const size_t len = rss::tuple_hash_input(t, s.hash_fields, input);
  return s.reta.owner(s.toeplitz.hash(input, len));
}

}  // namespace redline::pipeline
