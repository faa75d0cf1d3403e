#include "dpdk_app/control/snapshot.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "drivers/af_xdp.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::app {

Snapshot take_snapshot(const pipeline::Shared& shared, const std::vector<std::unique_ptr<pipeline::Worker>>& workers) {
  Snapshot s;
  s.tsc = rte_get_tsc_cycles();
  s.tsc_hz = shared.tsc_hz;
  for (const auto& w : workers) {
    auto& core = s.cores.emplace_back();
    for (size_t c = 0; c < net::kCounterCount; ++c) core[c] = w->counters().get(c);
  }
  for (const auto& port : shared.ports) {
    PortSnapshot& p = s.ports.emplace_back();
    p.name = port.name;
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port.dpdk_id, &info) == 0 && info.device) p.device = rte_dev_name(info.device);
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port.dpdk_id, &link) == 0) {
      p.link_up = link.link_status;
      p.speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
    }
    rte_eth_stats st{};
    if (rte_eth_stats_get(port.dpdk_id, &st) == 0) {
      p.rx_packets = st.ipackets;
      p.tx_packets = st.opackets;
      p.rx_bytes = st.ibytes;
      p.tx_bytes = st.obytes;
      p.rx_missed = st.imissed;
      p.rx_errors = st.ierrors;
      p.tx_errors = st.oerrors;
      p.rx_nombuf = st.rx_nombuf;
      for (uint32_t q = 0; q < shared.workers && q < RTE_ETHDEV_QUEUE_STAT_CNTRS; ++q) {
        p.rx_queue_packets.push_back(st.q_ipackets[q]);
        p.tx_queue_packets.push_back(st.q_opackets[q]);
      }
    }
    int count = rte_eth_xstats_get(port.dpdk_id, nullptr, 0);
    if (count > 0) {
      std::vector<rte_eth_xstat> values(static_cast<size_t>(count));
      std::vector<rte_eth_xstat_name> names(static_cast<size_t>(count));
      if (rte_eth_xstats_get(port.dpdk_id, values.data(), unsigned(count)) == count &&
          rte_eth_xstats_get_names(port.dpdk_id, names.data(), unsigned(count)) == count)
        for (const auto& v : values)
          if (v.id < names.size()) p.xstats.emplace_back(names[v.id].name, v.value);
    }
    // The kernel's drops on an AF_XDP port's sockets, which no PMD statistic shows; listed even at
    // 0, so that their absence says the sockets were not found.
    for (auto& kv : drivers::af_xdp_kernel_stats(port.dpdk_id)) p.xstats.push_back(std::move(kv));
  }
  return s;
}

}  // namespace redline::app
