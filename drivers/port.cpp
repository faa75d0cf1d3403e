#include "drivers/port.hpp"

#include <rte_dev.h>
#include <rte_ethdev.h>

#include <algorithm>
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

std::optional<PortProbe> probe(uint16_t port, std::string* error) {
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port, &info); rc != 0) {
    *error = "port " + std::to_string(port) + ": cannot read device info: " + err_text(rc);
    return std::nullopt;
  }
  PortProbe p;
  p.driver = info.driver_name ? info.driver_name : "";
  p.max_rx_queues = info.max_rx_queues;
  p.max_tx_queues = info.max_tx_queues;
  p.rss = RssCaps{info.reta_size, info.hash_key_size, info.flow_type_rss_offloads};
  return p;
}

namespace {
// Programs the NIC's RETA with the mirror repeated (rss::nic_reta), so the NIC's queue for a hash
// is the mirror's owner. Returns why not, or empty.
std::string program_reta(uint16_t port, uint16_t reta_size, const rss::RetaMirror& reta) {
  std::vector<uint16_t> entries = rss::nic_reta(reta, reta_size);
  std::vector<rte_eth_rss_reta_entry64> table((reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE);
  for (uint32_t i = 0; i < reta_size; ++i) {
    auto& group = table[i / RTE_ETH_RETA_GROUP_SIZE];
    group.mask |= uint64_t(1) << (i % RTE_ETH_RETA_GROUP_SIZE);
    group.reta[i % RTE_ETH_RETA_GROUP_SIZE] = entries[i];
  }
  if (int rc = rte_eth_dev_rss_reta_update(port, table.data(), reta_size); rc != 0)
    return "cannot program the RETA: " + err_text(rc);
  return {};
}

// Reads the hash configuration back: a driver may drop or add hash types, or keep its own key,
// and then its hash is not software's. Returns why, or empty.
std::string check_hash_conf(uint16_t port, uint64_t asked_rss_hf, const std::vector<uint8_t>& key) {
  std::vector<uint8_t> got(key.size(), 0);
  rte_eth_rss_conf conf{};
  conf.rss_key = got.data();
  conf.rss_key_len = uint8_t(got.size());
  if (int rc = rte_eth_dev_rss_hash_conf_get(port, &conf); rc != 0)
    return "cannot read the hash configuration back: " + err_text(rc);
  if (std::string why = rss_hf_mismatch(asked_rss_hf, conf.rss_hf); !why.empty()) return why;
  // A driver that does not report its key leaves the buffer zeroed: nothing to compare then.
  size_t n = std::min<size_t>(conf.rss_key_len, got.size());
  bool reported = std::any_of(got.begin(), got.begin() + long(n), [](uint8_t b) { return b != 0; });
  if (reported && !std::equal(got.begin(), got.begin() + long(n), key.begin()))
    return "the device reports a hash key other than the symmetric one";
  return {};
}
}  // namespace

std::optional<PortReady> configure_and_start(uint16_t port, const PortRequest& req, rte_mempool* pool,
                                             const rss::RetaMirror& reta, std::string* error) {
  auto fail = [&](const std::string& what, int rc) -> std::optional<PortReady> {
    *error = "port '" + req.name + "': " + what + (rc ? ": " + err_text(rc) : "");
    return std::nullopt;
  };
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port, &info); rc != 0) return fail("cannot read device info", rc);
  // A queue pair per worker where the device has them; where it has fewer (a veth under AF_XDP
  // has one), the workers beyond receive nothing from it and send through worker 0 (worker.hpp).
  const uint16_t queues = std::min({req.queues, info.max_rx_queues, info.max_tx_queues});
  if (queues == 0) return fail("driver " + std::string(info.driver_name) + " offers no queues", 0);

  PortReady ready;
  ready.id = port;
  ready.driver = info.driver_name;
  ready.queues = queues;
  rte_eth_conf conf{};
  ready.reta_size = info.reta_size;
  // Symmetric Toeplitz by the asked hash types wherever the NIC can spread over more than one
  // queue, even where its hash will not be trusted (ready.rss false): spreading the receive work
  // and handing packets off still beats one queue taking everything.
  const RssCaps caps{info.reta_size, info.hash_key_size, info.flow_type_rss_offloads};
  const uint64_t rss_hf = req.rss_hf & info.flow_type_rss_offloads;
  std::vector<uint8_t> key;
  if (queues > 1 && queues == req.queues && rss_hf != 0 && info.hash_key_size >= kMinKeyLen) {
    // 0x6d5a repeated stays symmetric at any key length.
    key.resize(info.hash_key_size);
    for (size_t i = 0; i < key.size(); ++i) key[i] = (i % 2 == 0) ? 0x6d : 0x5a;
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = key.data();
    conf.rx_adv_conf.rss_conf.rss_key_len = uint8_t(key.size());
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    ready.rss_hf = rss_hf;
    ready.hash_fields = hash_fields_for(rss_hf);
  }
  // Trusted only if the NIC hashes exactly the asked types with a RETA repeating the mirror.
  ready.rss_note = queues < req.queues ? std::to_string(queues) + " queue(s) for " + std::to_string(req.queues) + " workers"
                                       : rss_refusal(caps, queues, req.rss_hf, reta.size());
  ready.rss = ready.rss_note.empty();
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    ready.rx_ip_checksum_offload = true;
  }
  ready.tx_ip_checksum_offload = info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;  // reported, not asked:
  // forwarded headers get an incremental update and the few we build are summed in software.
  // Fast free: every mbuf redline sends is direct, one segment and from `pool` (output_stage.cpp
  // keeps it so) and, unless TCP sends in place (req.fast_free false), has one reference: what
  // the offload asks of the application.
  if (req.fast_free && (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    ready.tx_fast_free = true;
  }
  // Received frames are never chained: the pool's data room must hold a whole frame, after the
  // rounding down some PMDs apply to the buffer size (1 KB granularity on ixgbe, for one).
  const uint32_t room = rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
  const uint32_t frame = frame_len_for_mtu(req.mtu);
  if ((room & ~1023u) < frame || room < info.min_rx_bufsize)
    return fail("mbuf data room of " + std::to_string(room) + " bytes cannot take a whole frame of MTU " +
                    std::to_string(req.mtu) + " (" + std::to_string(frame) + " bytes, rounded to 1 KB; driver minimum " +
                    std::to_string(info.min_rx_bufsize) + ")", 0);
  if (int rc = rte_eth_dev_configure(port, queues, queues, &conf); rc != 0)
    return fail("rte_eth_dev_configure failed", rc);

  uint16_t rxd = req.rx_descriptors, txd = req.tx_descriptors;
  rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
  int socket = rte_eth_dev_socket_id(port);
  if (socket < 0) socket = 0;
  for (uint16_t q = 0; q < queues; ++q) {
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
    // A device that cannot change its MAC but already has the one asked for (AF_XDP: its
    // interface's, set before the probe) is fine as it is.
    const bool already = std::memcmp(device_mac.addr_bytes, mac.addr_bytes, 6) == 0;
    if (rc != 0 && !(rc == -ENOTSUP && (!device_has_mac || already)))
      return fail("cannot set MAC " + req.mac->to_string(), rc);
  }
  if (int rc = rte_eth_dev_set_mtu(port, req.mtu); rc != 0 && rc != -ENOTSUP)
    return fail("cannot set MTU " + std::to_string(req.mtu), rc);

  if (int rc = rte_eth_dev_start(port); rc != 0) return fail("cannot start", rc);

  // After start: some drivers apply their RSS set-up only when the port starts.
  if (ready.rss) ready.rss_note = program_reta(port, info.reta_size, reta);
  if (ready.rss_note.empty() && ready.rss) ready.rss_note = check_hash_conf(port, rss_hf, key);
  ready.rss = ready.rss_note.empty();

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
