// The hash that keeps a flow on one path of an ECMP route (route_table.hpp: RouteTable::path).
//
// Computed from the packet, not taken from the NIC's RSS hash: a port without RSS (net_tap,
// AF_XDP in copy mode) has none, and a flow must take the same path whichever port and worker
// it arrives on. Addresses, protocol and, for TCP and UDP, the ports, as Linux's L4 multipath
// policy (fib_multipath_hash_policy=1) hashes them; a fragment has no ports, so fragments, as in
// Linux, hash by the addresses alone (a fragmented datagram's later fragments may take another
// path than its first: they are reassembled at the destination either way).
#pragma once

#include <rte_hash_crc.h>

#include <cstdint>

#include "stack/ip/route_table.hpp"
#include "stack/wire/bytes.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::pipeline {

inline uint32_t flow_hash(const uint8_t* ip) {
  const uint8_t protocol = ip[wire::ipv4::kProtocol];
  uint32_t ports = 0;
  const uint32_t header_len = (ip[0] & 0x0fu) * 4;
  // The ports only where the datagram holds them: a TCP or UDP header cut short hashes as a
  // fragment does (the route stage has checked the total length against the frame).
  if ((protocol == wire::ipv4::kProtoTcp || protocol == wire::ipv4::kProtoUdp) &&
      (wire::load16(ip, wire::ipv4::kFlagsFragment) &
       (wire::ipv4::kFlagMoreFragments | wire::ipv4::kFragmentOffsetMask)) == 0 &&
      wire::load16(ip, wire::ipv4::kTotalLength) >= header_len + 4)
    ports = wire::load_raw32(ip + header_len);
  uint32_t h = rte_hash_crc_4byte(wire::load_raw32(ip + wire::ipv4::kSrc), protocol);
  h = rte_hash_crc_4byte(wire::load_raw32(ip + wire::ipv4::kDst), h);
  return rte_hash_crc_4byte(ports, h);
}

// The next hop of the datagram at `ip` by route entry `index`: the hash is computed only for
// an ECMP route.
inline const ip::NextHop& next_hop_of(const ip::RouteTable& routes, uint32_t index, const uint8_t* ip) {
  const ip::NextHop& h = routes.hop(index);
  if (h.paths > 1) [[unlikely]]
    return routes.path(index, flow_hash(ip));
  return h;
}

}  // namespace redline::pipeline
