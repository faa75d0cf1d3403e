// Everything the control plane shows about a running redline, read in one go: every worker's
// counters, every port's ethdev stats. Taken by the control thread (or the telemetry and
// metrics threads) while the workers run: counters are single-writer atomics read relaxed, and
// ethdev stats are safe to read from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stack/net/counters.hpp"

namespace redline::pipeline {
struct Shared;
class Worker;
}  // namespace redline::pipeline

namespace redline::app {

struct PortSnapshot {
  std::string name;
  std::string device;
  bool link_up = false;
  uint32_t speed_mbps = 0;
  uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
  uint64_t rx_missed = 0, rx_errors = 0, tx_errors = 0, rx_nombuf = 0;
  std::vector<uint64_t> rx_queue_packets, tx_queue_packets;  // per worker queue
  std::vector<std::pair<std::string, uint64_t>> xstats;      // every driver statistic, zeros too
};

// A value of the appliance's state beside the counters (NAT sessions, TCP connections, mbufs in
// use, reloads, build info): what the App adds to each snapshot (App::add_state).
struct StateSample {
  std::string name;  // the metric's name without "redline_"
  std::string type;  // "gauge" or "counter"
  std::string help;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

// Whether `show ports` and the stats block list a driver statistic: the non-zero ones (a NIC has
// a hundred), and the AF_XDP sockets' kernel drop counters (xsk_*) always, so that their absence
// says the sockets were not found. The metrics have them all.
inline bool summary_shows(const std::pair<std::string, uint64_t>& xstat) {
  return xstat.second != 0 || xstat.first.starts_with("xsk_");
}

struct Snapshot {
  uint64_t tsc = 0;     // when it was taken
  uint64_t tsc_hz = 1;
  std::vector<std::array<uint64_t, net::kCounterCount>> cores;  // [worker][counter]
  std::vector<unsigned> lcores;                                 // [worker]: the lcore it runs on
  std::vector<PortSnapshot> ports;
  std::vector<StateSample> state;  // samples of one name kept together, in the order added

  uint64_t total(net::Counter c) const {
    uint64_t sum = 0;
    for (const auto& core : cores) sum += core[size_t(c)];
    return sum;
  }
};

Snapshot take_snapshot(const pipeline::Shared& shared, const std::vector<std::unique_ptr<pipeline::Worker>>& workers);

// Share of TSC time worker `w` spent in iterations that handled packets, between two snapshots.
// Inline so that pure views of a Snapshot (the Prometheus text) link without DPDK.
inline double busy_share(const Snapshot& before, const Snapshot& after, size_t w) {
  if (w >= before.cores.size() || w >= after.cores.size() || after.tsc <= before.tsc) return 0;
  const size_t busy = size_t(net::Counter::busy_cycles);
  return double(after.cores[w][busy] - before.cores[w][busy]) / double(after.tsc - before.tsc);
}

}  // namespace redline::app
