// Bringing up one DPDK port, PCI NIC or vdev: attach, probe what it offers, configure one RX and
// one TX queue per worker, program symmetric RSS where it exists, start, report link and stats.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "stack/net/types.hpp"
#include "stack/rss/toeplitz.hpp"

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
};

struct PortReady {
  uint16_t id = 0;
  net::MacAddr mac;
  bool rss = false;                    // NIC spreads by our key and RETA
  bool rx_ip_checksum_offload = false;
  bool tx_ip_checksum_offload = false;
  std::string driver;
};

// Attaches `device`: creates the vdev ("net_tap0,iface=x") or finds an already probed port by
// name (PCI address from EAL's allow list, or a --vdev). Returns the port id or an error.
std::optional<uint16_t> attach(const std::string& device, std::string* error);

std::optional<PortReady> configure_and_start(uint16_t port, const PortRequest& req, rte_mempool* pool,
                                             const rss::RetaMirror& reta, std::string* error);

// Largest frame (without FCS) a port configured with `mtu` can receive.
constexpr uint32_t frame_len_for_mtu(uint16_t mtu) { return uint32_t(mtu) + 14 + 4 /* VLAN tag room */; }

void stop_and_close(uint16_t port);
std::string link_summary(uint16_t port);

}  // namespace redline::drivers
