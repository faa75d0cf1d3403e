#include "dpdk_app/stats.hpp"

#include <rte_mempool.h>

#include <cinttypes>

#include "dpdk_app/control/snapshot.hpp"

namespace redline::app {

void print_stats(std::FILE* out, const pipeline::Shared& shared,
                 const std::vector<std::unique_ptr<pipeline::Worker>>& workers) {
  const Snapshot s = take_snapshot(shared, workers);
  std::fprintf(out, "stats begin\n");
  for (size_t c = 0; c < net::kCounterCount; ++c)
    std::fprintf(out, "counter %s %" PRIu64 "\n", net::kCounterNames[c].data(), s.total(net::Counter(c)));
  for (size_t w = 0; w < s.cores.size(); ++w)
    for (size_t c = 0; c < net::kCounterCount; ++c)
      if (uint64_t v = s.cores[w][c]) std::fprintf(out, "core %zu %s %" PRIu64 "\n", w, net::kCounterNames[c].data(), v);
  for (const PortSnapshot& p : s.ports) {
    const char* n = p.name.c_str();
    const std::pair<const char*, uint64_t> stats[] = {
        {"rx_packets", p.rx_packets}, {"tx_packets", p.tx_packets}, {"rx_bytes", p.rx_bytes},
        {"tx_bytes", p.tx_bytes},     {"rx_missed", p.rx_missed},   {"rx_errors", p.rx_errors},
        {"tx_errors", p.tx_errors},   {"rx_nombuf", p.rx_nombuf}};
    for (const auto& [name, value] : stats) std::fprintf(out, "port %s %s %" PRIu64 "\n", n, name, value);
    for (size_t q = 0; q < p.rx_queue_packets.size(); ++q) {
      std::fprintf(out, "port %s rx_q%zu_packets %" PRIu64 "\n", n, q, p.rx_queue_packets[q]);
      std::fprintf(out, "port %s tx_q%zu_packets %" PRIu64 "\n", n, q, p.tx_queue_packets[q]);
    }
    // Driver-specific extended stats (summary_shows says which).
    for (const auto& x : p.xstats)
      if (summary_shows(x)) std::fprintf(out, "port %s xstat_%s %" PRIu64 "\n", n, x.first.c_str(), x.second);
  }
  // The mbuf pool as the workers leave it: buffers held by RX rings, TCP queues, ARP queues and
  // reassembly. A hostile peer that pins buffers shows here (tests compare it with a baseline).
  if (shared.pool) {
    std::fprintf(out, "pool mbufs_in_use %u\n", rte_mempool_in_use_count(shared.pool));
    std::fprintf(out, "pool mbufs_total %u\n", shared.pool->size);
  }
  std::fprintf(out, "stats end\n");
  std::fflush(out);
}

}  // namespace redline::app
