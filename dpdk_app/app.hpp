// The redline appliance: turns a Config into running workers and takes them down again with
// every mbuf accounted for.
#pragma once

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dpdk_app/config.hpp"
#include "drivers/af_xdp.hpp"
#include "dpdk_app/control/command_table.hpp"
#include "dpdk_app/control/metrics_server.hpp"
#include "dpdk_app/control/server.hpp"
#include "dpdk_app/control/snapshot.hpp"
#include "dpdk_app/kernel_route_watch.hpp"
#include "dpdk_app/service_notify.hpp"
#include "stack/nat/nat_shared.hpp"
#include "stack/services/services.hpp"
#include "stack/tcp/tcp_stage.hpp"
#include "stack/udp/udp_stage.hpp"
#include "stack/pipeline/shared.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::app {

class App {
 public:
  ~App();
  // EAL must be initialised. Returns false with `error` set on any failure. `config_path` is
  // what `reload` (and SIGHUP) read again.
  bool setup(const Config& config, std::string* error, const std::string& config_path = "");
  // Opens the control socket (config.control.socket) with the command table; after launch().
  bool open_control(std::string* error);
  // Launches the workers on the worker lcores; returns once they run.
  void launch();
  // Tells systemd (if it started redline) that redline is ready: after launch() and open_control().
  void notify_ready();
  // Control loop on the main lcore until SIGINT/SIGTERM: serves the control socket; SIGUSR1
  // prints counters, SIGHUP reloads the config; pings systemd's watchdog while workers turn.
  void control_loop();
  // The commands of the control socket (app_commands.cpp).
  control::CommandTable& commands() { return commands_; }
  // Stops workers, returns every mbuf, closes ports, prints the counters (if `print`). Returns
  // mbufs still in use (should be 0).
  unsigned shutdown(bool print = true);
  // A counter summed over workers, as it stood when shutdown() stopped them.
  uint64_t final_total(net::Counter c) const { return final_totals_[size_t(c)]; }

  const pipeline::Shared& shared() const { return *shared_; }
  // TCP's per-worker summary and connection listing (SIGUSR1 prints it after the counters).
  void print_tcp(std::FILE* out) const;

 private:
  using Json = control::Json;
  bool add_static_route(const RouteConfig& r, std::string* error);
  // Creates the TAP of every port with [ports.kernel] (app_kernel.cpp).
  bool open_kernel_paths(const Config& config, uint32_t workers, std::string* error);
  void register_commands();
  // Re-reads the config file and applies what can change while running: static routes, the
  // ARP and ICMP settings.
  Json reload();
  Json reload_file();  // reload's work; reload() counts what it found
  // The appliance's state for the metrics, beside the counters (app_metrics.cpp).
  void add_state(Snapshot& s) const;
  void publish_settings(const pipeline::Settings& settings);
  Json show_counters(const Json& args) const;
  Json show_ports() const;
  Json show_routes() const;
  Json show_neighbors() const;
  Json show_workers() const;
  Json show_nat() const;
  Json show_nat_sessions(const Json& args) const;
  Json nat_flush(const Json& args);
  // Runs a session scan (list or flush) over every worker's table, in slices (app_nat.cpp).
  Json scan_nat_sessions(const Json& args, bool flush) const;
  // TCP, UDP and the built-in services (app_tcp.cpp).
  bool setup_tcp(const Config& config, std::string* error);
  Json show_tcp() const;
  Json show_connections() const;
  // Resolves the [nat] rules against the ports, and the NAT's pool addresses as ours.
  bool setup_nat(const Config& config, std::string* error);
  bool claim_externals(const nat::NatRules& rules, std::string* error);
  // Replaces the NAT rules with `next` (reload); false with `error` if it cannot be applied live.
  bool replace_nat_rules(const nat::NatConfig& next, std::string* error);
  // The workers' NAT allocation records, written to [nat.log]'s file or syslog (control thread).
  void drain_nat_log();
  Json route_add(const Json& args);
  Json route_get(const Json& args) const;
  Json trace_add(const Json& args);
  Json show_config() const;
  Json show_trace() const;
  Json route_del(const Json& args);
  Json neighbor_flush(const Json& args);

  Config config_;
  std::string config_path_;
  std::string config_text_;  // the file as read at start or by the last reload
  control::CommandTable commands_;
  std::unique_ptr<control::Server> server_;
  std::array<Snapshot, 2> snapshots_;  // the last two, a second apart
  std::unique_ptr<pipeline::Shared> shared_ = std::make_unique<pipeline::Shared>();
  std::unique_ptr<ip::RouteTable> routes_;
  std::unique_ptr<arp::NeighborTable> neighbors_;
  std::unique_ptr<nat::NatShared> nat_;  // when the config has [nat]
  std::unique_ptr<nat::LogSink> nat_log_;  // when [nat.log] is on
  std::unique_ptr<tcp::TcpShared> tcp_;
  std::vector<udp::UdpStage*> udp_stages_;  // by worker
  std::unique_ptr<services::ClientTotals> client_totals_;
  std::vector<std::unique_ptr<pipeline::Worker>> workers_;
  std::vector<unsigned> lcores_;
  std::array<uint64_t, net::kCounterCount> final_totals_{};
  bool ports_open_ = false;
  rte_mempool* afxdp_pool_ = nullptr;  // AF_XDP ports' receive pool (app.cpp says why)
  std::vector<drivers::InterfaceState> changed_interfaces_;  // AF_XDP interfaces' MTU/MAC before us
  bool launched_ = false;
  ServiceNotify service_;
  std::vector<uint64_t> loops_seen_;  // each worker's loops() at the last watchdog ping
  // True if every worker's loop turned since the last call (the watchdog's health).
  bool workers_turning();
  // Reloads (command or SIGHUP) for the metrics: read by the metrics server's threads.
  std::atomic<uint64_t> reloads_applied_{0}, reloads_refused_{0};
  std::atomic<bool> last_reload_applied_{true};
  int64_t started_unix_s_ = 0;
  uint64_t started_tsc_ = 0;
  Snapshot counters_mark_;
  // Routes mirrored from the kernel side ([ip] learn_routes; app_routes.cpp).
  std::unique_ptr<KernelRouteWatch> route_watch_;
  std::map<std::pair<uint32_t, uint8_t>, std::vector<ip::NextHop>> learned_;  // by (network, length)
  std::atomic<uint64_t> learned_count_{0}, learned_added_{0}, learned_removed_{0}, learned_ignored_{0};
  void on_kernel_route(const KernelRoute& route, bool present);
  bool start_learning(std::string* error);  // `counters mark`: what show counters --delta subtracts (zeros until one)
  // Last member: destroyed first, so its threads never outlive the workers they read.
  std::unique_ptr<MetricsServer> metrics_;
};

// The pipeline's settings from a config.
pipeline::Settings settings_of(const Config& config);

// Installs handlers for SIGINT, SIGTERM, SIGUSR1 and SIGHUP.
void install_signal_handlers();

}  // namespace redline::app
