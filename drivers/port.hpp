// Bringing up one DPDK port, PCI NIC or vdev: attach, probe what it offers, configure one RX and
// one TX queue per worker, program symmetric RSS where it exists, start, report link and stats.
//
// RSS takes two steps across all ports (rss_plan.hpp): probe() every port, plan_rss() over what
// they offer (hash types, mirror size), then configure_and_start() each with the plan's hash
// types and the one mirror. A port whose NIC cannot follow the mirror, or does not hash what was
// asked when read back, is configured anyway but reported as not RSS (PortReady::rss_note): the
// pipeline then computes the owner in software and hands packets off.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "drivers/rss_plan.hpp"
#include "stack/net/types.hpp"
#include "stack/rss/hash_input.hpp"
#include "stack/rss/reta.hpp"

struct rte_mempool;

namespace redline::drivers {

struct PortRequest {
  std::string name;
  std::string device;
  std::optional<net::MacAddr> mac;
  uint16_t mtu = 1500;
  uint16_t queues = 1;
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  // Hash types to configure (RTE_ETH_RSS_*) when there is more than one queue; 0: no RSS.
  // All ports of one application get the same (RssPlan::rss_hf).
  uint64_t rss_hf = kWantedRss;
  // RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE where the PMD offers it. Off when anything sends mbufs it
  // keeps a reference to (TCP's zero-copy send): fast free returns them to the pool unchecked.
  bool fast_free = true;
};

// What a port offers, read before configuring it (rte_eth_dev_info).
struct PortProbe {
  std::string driver;
  uint16_t max_rx_queues = 0;
  uint16_t max_tx_queues = 0;
  RssCaps rss;
};

struct PortReady {
  uint16_t id = 0;
  net::MacAddr mac;
  bool rss = false;                    // NIC spreads by our key, hash types and RETA: trust its hash
  std::string rss_note;                // why not, when rss is false
  uint64_t rss_hf = 0;                 // hash types configured (0: none)
  rss::HashFields hash_fields;         // what the NIC hashes, when rss is true
  uint16_t reta_size = 0;              // the NIC's RETA size (0: none)
  bool rx_ip_checksum_offload = false;
  bool tx_ip_checksum_offload = false;  // offered by the NIC (not used: see port.cpp)
  bool tx_fast_free = false;            // RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE on every TX queue
  std::string driver;
  uint16_t queues = 1;  // queue pairs configured: the workers', or fewer if the device has fewer
};

// Attaches `device`: creates the vdev ("net_tap0,iface=x") or finds an already probed port by
// name (PCI address from EAL's allow list, or a --vdev). Returns the port id or an error.
std::optional<uint16_t> attach(const std::string& device, std::string* error);

// What `port` offers (queues, RETA size, key size, hash types), before it is configured.
std::optional<PortProbe> probe(uint16_t port, std::string* error);

// Configures `req.queues` queue pairs, RSS by `req.rss_hf` with the symmetric key and a RETA
// repeating `reta` (rss::nic_reta), and starts the port.
std::optional<PortReady> configure_and_start(uint16_t port, const PortRequest& req, rte_mempool* pool,
                                             const rss::RetaMirror& reta, std::string* error);

// Largest frame (without FCS) a port configured with `mtu` can receive.
constexpr uint32_t frame_len_for_mtu(uint16_t mtu) { return uint32_t(mtu) + 14 + 4 /* VLAN tag room */; }

void stop_and_close(uint16_t port);
std::string link_summary(uint16_t port);

}  // namespace redline::drivers
