#include "dpdk_app/control/telemetry.hpp"

#include <rte_telemetry.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <string>

namespace redline::app {

namespace {

std::mutex g_mu;
std::function<Snapshot()> g_provider;  // guarded by g_mu

// Takes a snapshot under the lock, so unregister_telemetry() cannot return while the App's
// workers are being read. -ENODEV (telemetry answers null) when no App is running.
template <typename Fill>
int with_snapshot(Fill fill) {
  std::lock_guard lock(g_mu);
  if (!g_provider) return -ENODEV;
  const Snapshot s = g_provider();
  return fill(s);
}

// Telemetry accepts only [A-Za-z0-9_/] in names; port names may hold anything (1-32 chars).
std::string telemetry_name(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '/') c = '_';
  return out;
}

int counters(const char*, const char*, rte_tel_data* d) {
  return with_snapshot([d](const Snapshot& s) {
    rte_tel_data_start_dict(d);
    for (size_t c = 0; c < net::kCounterCount; ++c)
      rte_tel_data_add_dict_u64(d, std::string(net::kCounterNames[c]).c_str(), s.total(net::Counter(c)));
    return 0;
  });
}

int counters_by_core(const char*, const char* params, rte_tel_data* d) {
  size_t w = 0;
  const char* end = params ? params + std::strlen(params) : nullptr;
  if (!params || params == end || std::from_chars(params, end, w).ptr != end) return -EINVAL;
  return with_snapshot([d, w](const Snapshot& s) {
    if (w >= s.cores.size()) return -EINVAL;
    rte_tel_data_start_dict(d);
    for (size_t c = 0; c < net::kCounterCount; ++c)
      rte_tel_data_add_dict_u64(d, std::string(net::kCounterNames[c]).c_str(), s.cores[w][c]);
    return 0;
  });
}

int ports(const char*, const char*, rte_tel_data* d) {
  return with_snapshot([d](const Snapshot& s) {
    rte_tel_data_start_dict(d);
    for (const auto& p : s.ports) {
      // A dict in a dict: 22.11's header documents only arrays as containers, but its
      // implementation takes dicts too (the integration test reads this through the socket).
      rte_tel_data* port = rte_tel_data_alloc();
      if (!port) return -ENOMEM;
      rte_tel_data_start_dict(port);
      rte_tel_data_add_dict_string(port, "device", p.device.c_str());
      rte_tel_data_add_dict_int(port, "link_up", p.link_up);
      rte_tel_data_add_dict_u64(port, "speed_mbps", p.speed_mbps);
      rte_tel_data_add_dict_u64(port, "rx_packets", p.rx_packets);
      rte_tel_data_add_dict_u64(port, "tx_packets", p.tx_packets);
      rte_tel_data_add_dict_u64(port, "rx_bytes", p.rx_bytes);
      rte_tel_data_add_dict_u64(port, "tx_bytes", p.tx_bytes);
      rte_tel_data_add_dict_u64(port, "rx_missed", p.rx_missed);
      rte_tel_data_add_dict_u64(port, "rx_errors", p.rx_errors);
      rte_tel_data_add_dict_u64(port, "tx_errors", p.tx_errors);
      rte_tel_data_add_dict_u64(port, "rx_nombuf", p.rx_nombuf);
      if (rte_tel_data_add_dict_container(d, telemetry_name(p.name).c_str(), port, 0) != 0) {
        rte_tel_data_free(port);
        return -EINVAL;
      }
    }
    return 0;
  });
}

int workers(const char*, const char*, rte_tel_data* d) {
  return with_snapshot([d](const Snapshot& s) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "tsc_hz", s.tsc_hz);
    // One array per figure, indexed by worker (the container type 22.11's header documents).
    for (net::Counter c : {net::Counter::busy_cycles, net::Counter::rx_packets}) {
      rte_tel_data* per_worker = rte_tel_data_alloc();
      if (!per_worker) return -ENOMEM;
      rte_tel_data_start_array(per_worker, RTE_TEL_U64_VAL);
      for (const auto& core : s.cores) rte_tel_data_add_array_u64(per_worker, core[size_t(c)]);
      rte_tel_data_add_dict_container(d, std::string(net::kCounterNames[size_t(c)]).c_str(), per_worker, 0);
    }
    return 0;
  });
}

void register_commands() {
  rte_telemetry_register_cmd("/redline/counters", counters,
                             "Returns every redline counter summed over workers. Takes no parameters");
  rte_telemetry_register_cmd("/redline/counters_by_core", counters_by_core,
                             "Returns one worker's redline counters. Parameters: int worker index");
  rte_telemetry_register_cmd("/redline/ports", ports,
                             "Returns per redline port its device, link and ethdev stats. Takes no parameters");
  rte_telemetry_register_cmd("/redline/workers", workers,
                             "Returns per worker (array index) busy_cycles and rx_packets, and tsc_hz. Takes no parameters");
}

}  // namespace

void register_telemetry(std::function<Snapshot()> provider) {
  static std::once_flag once;
  std::call_once(once, register_commands);
  std::lock_guard lock(g_mu);
  g_provider = std::move(provider);
}

void unregister_telemetry() {
  std::lock_guard lock(g_mu);
  g_provider = nullptr;
}

}  // namespace redline::app
