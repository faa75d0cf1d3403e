#include "dpdk_app/stats.hpp"

#include <rte_ethdev.h>

#include <cinttypes>

namespace redline::app {

void print_stats(std::FILE* out, const pipeline::Shared& shared,
                 const std::vector<std::unique_ptr<pipeline::Worker>>& workers) {
  std::fprintf(out, "stats begin\n");
  for (size_t c = 0; c < net::kCounterCount; ++c) {
    uint64_t sum = 0;
    for (auto& w : workers) sum += w->counters().get(c);
    std::fprintf(out, "counter %s %" PRIu64 "\n", net::kCounterNames[c].data(), sum);
  }
  for (auto& w : workers)
    for (size_t c = 0; c < net::kCounterCount; ++c)
      if (uint64_t v = w->counters().get(c))
        std::fprintf(out, "core %u %s %" PRIu64 "\n", w->id(), net::kCounterNames[c].data(), v);
  for (const auto& port : shared.ports) {
    rte_eth_stats st{};
    if (rte_eth_stats_get(port.dpdk_id, &st) != 0) continue;
    const char* n = port.name.c_str();
    std::fprintf(out, "port %s rx_packets %" PRIu64 "\n", n, st.ipackets);
    std::fprintf(out, "port %s tx_packets %" PRIu64 "\n", n, st.opackets);
    std::fprintf(out, "port %s rx_bytes %" PRIu64 "\n", n, st.ibytes);
    std::fprintf(out, "port %s tx_bytes %" PRIu64 "\n", n, st.obytes);
    std::fprintf(out, "port %s rx_missed %" PRIu64 "\n", n, st.imissed);
    std::fprintf(out, "port %s rx_errors %" PRIu64 "\n", n, st.ierrors);
    std::fprintf(out, "port %s tx_errors %" PRIu64 "\n", n, st.oerrors);
    std::fprintf(out, "port %s rx_nombuf %" PRIu64 "\n", n, st.rx_nombuf);
    for (uint32_t q = 0; q < shared.workers && q < RTE_ETHDEV_QUEUE_STAT_CNTRS; ++q) {
      std::fprintf(out, "port %s rx_q%u_packets %" PRIu64 "\n", n, q, st.q_ipackets[q]);
      std::fprintf(out, "port %s tx_q%u_packets %" PRIu64 "\n", n, q, st.q_opackets[q]);
    }
    // Driver-specific extended stats, non-zero only.
    int count = rte_eth_xstats_get(port.dpdk_id, nullptr, 0);
    if (count > 0) {
      std::vector<rte_eth_xstat> values(static_cast<size_t>(count));
      std::vector<rte_eth_xstat_name> names(static_cast<size_t>(count));
      if (rte_eth_xstats_get(port.dpdk_id, values.data(), unsigned(count)) == count &&
          rte_eth_xstats_get_names(port.dpdk_id, names.data(), unsigned(count)) == count)
        for (int i = 0; i < count; ++i)
          if (values[size_t(i)].value)
            std::fprintf(out, "port %s xstat_%s %" PRIu64 "\n", n, names[values[size_t(i)].id].name, values[size_t(i)].value);
    }
  }
  std::fprintf(out, "stats end\n");
  std::fflush(out);
}

}  // namespace redline::app
