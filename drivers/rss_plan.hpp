// One RSS set-up for all ports: which hash types to ask for, how large the one software RETA
// mirror is, and which ports can be trusted to spread packets by it.
//
// Problem: the owner of a flow is a single software function (Toeplitz over the fields in
// rss::HashFields, then rss::RetaMirror), but each NIC hashes the types it offers and has a RETA
// of its own size. A port whose NIC hashes other fields or indexes a RETA that does not repeat
// the mirror delivers packets to cores that do not own them; if software then trusted the NIC's
// hash, one flow could be split over two cores.
//
// Choice: probe every port before configuring any (probe() in port.hpp), then plan here, purely:
//   - hash fields: TCP (UDP) ports are hashed only if every RSS-capable port can hash
//     NONFRAG_IPV4_TCP (_UDP); software hashes the same (rss::HashFields);
//   - hash types per port: what redline wants and the port offers, less the TCP/UDP types not
//     common to all. The address-only types (IPV4, FRAG_IPV4, NONFRAG_IPV4_OTHER) may differ
//     between ports (ixgbe offers IPV4, i40e FRAG_IPV4 and NONFRAG_IPV4_OTHER): each hashes the
//     two addresses with the same key, and a packet a port does not hash arrives without a hash
//     and is owned in software. Only the port fields must agree, so only they are intersected;
//   - mirror size: the smallest RETA among the RSS ports (reta.hpp explains why that one serves
//     all);
//   - a port that cannot follow (one queue, short key, no RETA, a RETA that is not a multiple of
//     the mirror, no hash type left) gets software ownership and handoff, with the reason.
// After configuring, configure_and_start reads the hash configuration back and demotes a port
// whose NIC does not hash what was asked (rss_hf_mismatch).
#pragma once

#include <rte_ethdev.h>

#include <cstdint>
#include <string>
#include <vector>

#include "stack/rss/hash_input.hpp"
#include "stack/rss/reta.hpp"

namespace redline::drivers {

// What redline asks for: every IPv4 packet hashed, unfragmented TCP and UDP with their ports.
inline constexpr uint64_t kWantedRss = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP |
                                       RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV4_OTHER;

// Every rss_hf bit that changes how an IPv4 packet is hashed: the IPv4 types, SCTP (whose ports
// we do not hash), L2 payload, checksum fields, and the modifiers that drop fields (source
// only, destination only) or pick an inner header. If any of these differs from what was
// asked, the NIC's hash is not software's.
inline constexpr uint64_t kIpv4RssBits =
    kWantedRss | RTE_ETH_RSS_NONFRAG_IPV4_SCTP | RTE_ETH_RSS_L2_PAYLOAD | RTE_ETH_RSS_IPV4_CHKSUM |
    RTE_ETH_RSS_L4_CHKSUM | RTE_ETH_RSS_L3_SRC_ONLY | RTE_ETH_RSS_L3_DST_ONLY | RTE_ETH_RSS_L4_SRC_ONLY |
    RTE_ETH_RSS_L4_DST_ONLY | RTE_ETH_RSS_LEVEL_MASK;

// The minimum Toeplitz key length: 40 bytes covers the 12-byte IPv4 4-tuple (and 0x6d5a
// repeated is symmetric at any length).
inline constexpr uint32_t kMinKeyLen = 40;

// What a port offers for RSS, from rte_eth_dev_info (see probe() in port.hpp).
struct RssCaps {
  uint16_t reta_size = 0;
  uint8_t hash_key_size = 0;
  uint64_t flow_type_rss_offloads = 0;
};

// The fields software hashes for ports configured with `rss_hf`: TCP/UDP ports only when the NIC
// hashes NONFRAG_IPV4_TCP / NONFRAG_IPV4_UDP (otherwise it hashes their addresses, or nothing).
constexpr rss::HashFields hash_fields_for(uint64_t rss_hf) {
  return {(rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP) != 0, (rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP) != 0};
}

// Why a port with `caps` cannot spread `queues` queues by hash types `rss_hf` and a RETA
// repeating a `mirror_size`-entry mirror; empty if it can.
std::string rss_refusal(const RssCaps& caps, uint16_t queues, uint64_t rss_hf, uint32_t mirror_size);

// Why the hash configuration read back from a port (`actual_rss_hf`) is not what was asked
// (`asked_rss_hf`), comparing the bits in kIpv4RssBits; empty if it is.
std::string rss_hf_mismatch(uint64_t asked_rss_hf, uint64_t actual_rss_hf);

struct RssPlan {
  std::vector<uint64_t> rss_hf;                        // per port: PortRequest::rss_hf (0: no RSS at all)
  uint32_t reta_size = rss::RetaMirror::kDefaultSize;  // the size of the one mirror
  rss::HashFields fields;                              // what software hashes: what the RSS ports hash
  std::vector<std::string> software;                   // per port: empty if it spreads by RSS, else why not
};

// Plans RSS for ports with capabilities `ports` and `queues` queues each (one per worker).
RssPlan plan_rss(const std::vector<RssCaps>& ports, uint16_t queues);

}  // namespace redline::drivers
