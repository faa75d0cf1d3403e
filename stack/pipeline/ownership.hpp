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
  uint8_t tuple[rss::Toeplitz::kMaxInput];
  std::memcpy(tuple, ip + wire::ipv4::kSrc, 8);
  size_t len = 8;
  const uint8_t proto = ip[wire::ipv4::kProtocol];
  const uint16_t frag = wire::load16(ip, wire::ipv4::kFlagsFragment);
  const size_t ihl = wire::ipv4::header_len(ip);
  // As the NIC does: TCP and UDP that are not fragments hash the ports too, the rest only the
  // addresses (so all fragments of a datagram meet on one core).
  if ((proto == wire::ipv4::kProtoTcp || proto == wire::ipv4::kProtoUdp) &&
      (frag & (wire::ipv4::kFlagMoreFragments | wire::ipv4::kFragmentOffsetMask)) == 0 &&
      rte_pktmbuf_data_len(m) >= wire::eth::kHeaderLen + ihl + 4) {
    std::memcpy(tuple + 8, ip + ihl, 4);
    len = 12;
  }
  *hash = s.toeplitz.hash(tuple, len);
  return s.reta.owner(*hash);
}

}  // namespace redline::pipeline
