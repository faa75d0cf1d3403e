#include "drivers/port.hpp"

#include <rte_dev.h>
#include <rte_ethdev.h>

#include <cstring>
#include <vector>

namespace redline::drivers {

namespace {
std::string err_text(int rc) { return std::string(rte_strerror(rc < 0 ? -rc : rc)); }

bool looks_like_vdev(const std::string& device) {
  // Virtual device names start with their driver: net_tap0, net_ring0, net_memif, eth_...
  return device.rfind("net_", 0) == 0 || device.rfind("eth_", 0) == 0 || device.rfind("crypto_", 0) == 0;
}
}  // namespace

std::optional<uint16_t> attach(const std::string& device, std::string* error) {
  std::string name = device.substr(0, device.find(','));
  uint16_t id;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0) return id;
  // rte_dev_probe takes both forms: a vdev with its arguments ("net_tap0,iface=x") and a bus
  // address ("0000:03:00.0").
  if (int rc = rte_dev_probe(device.c_str()); rc != 0) {
    *error = "cannot attach device '" + device + "': " + err_text(rc) +
             (looks_like_vdev(device) ? " (is the driver name right? is the interface name free?)"
                                      : " (a PCI NIC must be bound to vfio-pci or uio and not blocked by EAL -b/-a)");
    return std::nullopt;
  }
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) {
    *error = "device '" + device + "' attached but no ethdev port named '" + name + "' appeared";
    return std::nullopt;
  }
  return id;
}

std::optional<PortReady> configure_and_start(uint16_t port, const PortRequest& req, rte_mempool* pool,
                                             const rss::RetaMirror& reta, std::string* error) {
  auto fail = [&](const std::string& what, int rc) -> std::optional<PortReady> {
    *error = "port '" + req.name + "': " + what + (rc ? ": " + err_text(rc) : "");
    return std::nullopt;
  };
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port, &info); rc != 0) return fail("cannot read device info", rc);
  if (info.max_rx_queues < req.queues || info.max_tx_queues < req.queues)
    return fail("driver " + std::string(info.driver_name) + " offers " + std::to_string(info.max_rx_queues) +
                    " RX / " + std::to_string(info.max_tx_queues) + " TX queues, " +
                    std::to_string(req.queues) + " workers need one each (use fewer workers or a vdev " +
                    "argument for more queues, e.g. qpairs= for net_af_packet)", 0);

  PortReady ready;
  ready.id = port;
  ready.driver = info.driver_name;
  rte_eth_conf conf{};
  // Symmetric Toeplitz over IPv4 addresses and TCP/UDP ports, where the NIC can and there is
  // more than one queue to spread over.
  const uint64_t wanted_rss = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP |
                              RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER;
  uint64_t rss_hf = info.flow_type_rss_offloads & wanted_rss;
  std::vector<uint8_t> key;
  if (req.queues > 1 && rss_hf != 0 && info.hash_key_size >= 40) {
    // 0x6d5a repeated stays symmetric at any key length.
    key.resize(info.hash_key_size);
    for (size_t i = 0; i < key.size(); ++i) key[i] = (i % 2 == 0) ? 0x6d : 0x5a;
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = key.data();
    conf.rx_adv_conf.rss_conf.rss_key_len = uint8_t(key.size());
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    ready.rss = true;
  }
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    ready.rx_ip_checksum_offload = true;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    ready.tx_ip_checksum_offload = true;
  }
  if (int rc = rte_eth_dev_configure(port, req.queues, req.queues, &conf); rc != 0)
    return fail("rte_eth_dev_configure failed", rc);

  uint16_t rxd = req.rx_descriptors, txd = req.tx_descriptors;
  rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
  int socket = rte_eth_dev_socket_id(port);
  if (socket < 0) socket = 0;
  for (uint16_t q = 0; q < req.queues; ++q) {
    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    if (int rc = rte_eth_rx_queue_setup(port, q, rxd, unsigned(socket), &rxconf, pool); rc != 0)
      return fail("RX queue " + std::to_string(q) + " setup failed", rc);
    rte_eth_txconf txconf = info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    if (int rc = rte_eth_tx_queue_setup(port, q, txd, unsigned(socket), &txconf); rc != 0)
      return fail("TX queue " + std::to_string(q) + " setup failed", rc);
  }

  rte_ether_addr device_mac;
  rte_eth_macaddr_get(port, &device_mac);
  const bool device_has_mac = !rte_is_zero_ether_addr(&device_mac);
  if (req.mac) {
    rte_ether_addr mac;
    std::memcpy(mac.addr_bytes, req.mac->bytes.data(), 6);
    int rc = rte_eth_dev_default_mac_addr_set(port, &mac);
    // A device without an address (net_ring) filters nothing: the configured MAC is used in
    // software. One that has an address it cannot change would drop our traffic: refuse.
    if (rc != 0 && !(rc == -ENOTSUP && !device_has_mac)) return fail("cannot set MAC " + req.mac->to_string(), rc);
  }
  if (int rc = rte_eth_dev_set_mtu(port, req.mtu); rc != 0 && rc != -ENOTSUP)
    return fail("cannot set MTU " + std::to_string(req.mtu), rc);

  if (int rc = rte_eth_dev_start(port); rc != 0) return fail("cannot start", rc);

  if (ready.rss && info.reta_size == 0) ready.rss = false;  // the NIC's spread is unknown
  // With a RETA whose size is a multiple of the worker count's power-of-two part, the NIC and the
  // 512-entry mirror agree; otherwise some packets land on a core that does not own them and are
  // handed off (correct, slower). Power-of-two worker counts always agree.
  if (ready.rss) {
    // Program the NIC's redirection table from the software mirror so both pick the same core.
    std::vector<rte_eth_rss_reta_entry64> table((info.reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE);
    for (uint32_t i = 0; i < info.reta_size; ++i) {
      auto& group = table[i / RTE_ETH_RETA_GROUP_SIZE];
      group.mask |= uint64_t(1) << (i % RTE_ETH_RETA_GROUP_SIZE);
      group.reta[i % RTE_ETH_RETA_GROUP_SIZE] = uint16_t(reta.entry(i));
    }
    if (int rc = rte_eth_dev_rss_reta_update(port, table.data(), info.reta_size); rc != 0) {
      // Without our RETA the NIC's spread is unknown: fall back to software ownership.
      ready.rss = false;
    }
  }

  rte_ether_addr mac;
  rte_eth_macaddr_get(port, &mac);
  std::memcpy(ready.mac.bytes.data(), mac.addr_bytes, 6);
  if (ready.mac.is_zero()) {
    // No address on the device and none configured: a locally administered one from the port id.
    ready.mac = req.mac.value_or(net::MacAddr{{0x02, 0x72, 0x6c, 0x00, uint8_t(port >> 8), uint8_t(port)}});
  }
  return ready;
}

void stop_and_close(uint16_t port) {
  rte_eth_dev_stop(port);
  rte_eth_dev_close(port);
}

std::string link_summary(uint16_t port) {
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(port, &link) != 0) return "link unknown";
  if (!link.link_status) return "link down";
  return "link up " + (link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? std::string("(speed unknown)")
                                                                    : std::to_string(link.link_speed) + " Mbps") +
         (link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? " full-duplex" : " half-duplex");
}

}  // namespace redline::drivers
