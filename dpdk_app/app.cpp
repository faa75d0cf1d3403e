#include "dpdk_app/app.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <ctime>
#include <thread>

#include "drivers/af_xdp.hpp"
#include "drivers/af_xdp_pool.hpp"
#include "drivers/port.hpp"
#include "dpdk_app/control/prometheus.hpp"
#include "dpdk_app/control/snapshot.hpp"
#include "dpdk_app/control/telemetry.hpp"
#include "stack/pipeline/log.hpp"
#include "dpdk_app/stats.hpp"

namespace redline::app {

namespace {
std::atomic<bool> g_quit{false};
std::atomic<bool> g_print_stats{false};
std::atomic<bool> g_reload{false};

void on_signal(int sig) {
  if (sig == SIGUSR1) g_print_stats.store(true, std::memory_order_relaxed);
  else if (sig == SIGHUP) g_reload.store(true, std::memory_order_relaxed);
  else g_quit.store(true, std::memory_order_relaxed);
}

constexpr unsigned kHandoffRingSize = 1024;
constexpr unsigned kPoolCache = 256;

int worker_main(void* arg) {
  static_cast<pipeline::Worker*>(arg)->run();
  return 0;
}
}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
}

pipeline::Settings settings_of(const Config& config) {
  pipeline::Settings t;
  t.burst = config.pipeline.burst;
  t.idle_sleep_us = config.pipeline.idle_sleep_us;
  t.icmp_error_rate = config.icmp.error_rate;
  t.icmp_error_burst = config.icmp.error_burst;
  t.aging.reachable_ns = uint64_t(config.arp.reachable_s) * 1'000'000'000;
  t.aging.probe_interval_ns = uint64_t(config.arp.retry_ms) * 1'000'000;
  t.aging.probes = config.arp.retries;
  t.resolve.retry_ns = uint64_t(config.arp.retry_ms) * 1'000'000;
  t.resolve.retries = config.arp.retries;
  t.queue_per_neighbor = config.arp.queue_per_neighbor;
  t.max_resolving = config.arp.max_resolving;
  t.arp_probes_per_ms = config.arp.probes_per_ms;
  t.reassembly_datagrams = config.ip.reassembly_datagrams;
  t.reassembly_timeout_ms = config.ip.reassembly_timeout_ms;
  return t;
}

bool App::add_static_route(const RouteConfig& r, std::string* error) {
  std::vector<ip::NextHop> hops;
  for (const net::Ipv4Addr& g : r.via) {
    uint16_t port = 0;
    for (size_t i = 0; i < shared_->ports.size(); ++i)
      if (shared_->ports[i].address.contains(g)) port = uint16_t(i);
    hops.push_back({ip::NextHop::Kind::kForward, port, g});
  }
  return routes_->add(r.prefix, std::move(hops), error);
}

bool App::setup(const Config& config, std::string* error, const std::string& config_path) {
  pipeline::Shared& s = *shared_;
  config_ = config;
  config_path_ = config_path;
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    std::stringstream text;
    text << in.rdbuf();
    config_text_ = text.str();
  }
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) lcores_.push_back(lcore);
  if (lcores_.empty()) {
    *error = "no worker lcore: give EAL at least two, e.g. -l 0,1 (lcore 0 runs control, the rest are workers)";
    return false;
  }
  uint32_t workers = config.workers.value_or(uint32_t(lcores_.size()));
  if (workers > lcores_.size() || workers > pipeline::kMaxWorkers) {
    *error = "config asks for " + std::to_string(workers) + " workers but EAL gives " +
             std::to_string(lcores_.size()) + " worker lcores (raise -l/--lcores or lower 'workers')";
    return false;
  }
  lcores_.resize(workers);
  s.workers = workers;
  s.tsc_hz = rte_get_tsc_hz();

  s.settings = settings_of(config);

  // Mbufs: every descriptor of every queue may hold one, plus per-core caches, TX buffers,
  // rings between cores and packets waiting for ARP.
  uint16_t max_mtu = 0;
  uint32_t descriptors = 0;
  for (auto& p : config.ports) {
    max_mtu = std::max(max_mtu, p.mtu);
    descriptors += uint32_t(p.rx_descriptors + p.tx_descriptors) * workers;
  }
  // The parts, logged at start so an operator sees what the pool is for.
  const uint32_t part_caches = workers * (kPoolCache * 2 + pipeline::kMaxBurst * uint32_t(config.ports.size() + 1));
  const uint32_t part_rings = workers * workers * kHandoffRingSize;
  const uint32_t part_arp = config.arp.max_resolving * config.arp.queue_per_neighbor;
  // fragments waiting for the rest of their datagram: two each on average
  const uint32_t part_reassembly = workers * config.ip.reassembly_datagrams * 2;
  // what TCP connections may hold received (tcp.rx_mbufs per worker, enforced by the engine)
  const uint32_t part_tcp_rx = workers * config.tcp.rx_mbufs;
  // and what they may hold in send queues (tcp.tx_mbufs per worker, enforced likewise)
  const uint32_t part_tcp_tx = workers * config.tcp.tx_mbufs;
  constexpr uint32_t kPartSpare = 4096;  // segments in flight, ICMP and ARP answers, the control plane
  uint32_t mbufs = config.pipeline.mbufs;
  if (mbufs == 0)
    mbufs = descriptors + part_caches + part_rings + part_arp + part_reassembly + part_tcp_rx + part_tcp_tx + kPartSpare;
  log::write(log::Level::kInfo,
             "mbuf pool: %u mbufs%s: descriptors %u, core caches and TX buffers %u, handoff rings %u, ARP queues %u, "
             "reassembly %u, TCP receive %u and send %u (tcp.rx_mbufs %u, tx_mbufs %u, x %u workers), spare %u",
             mbufs, config.pipeline.mbufs ? " (pipeline.mbufs)" : "", descriptors, part_caches, part_rings, part_arp,
             part_reassembly, part_tcp_rx, part_tcp_tx, config.tcp.rx_mbufs, config.tcp.tx_mbufs, workers, kPartSpare);
  if (config.pipeline.mbufs && config.pipeline.mbufs < descriptors + part_tcp_rx + part_tcp_tx)
    log::write(log::Level::kWarning,
               "pipeline.mbufs %u is below the RX/TX descriptors (%u) plus TCP's receive and send memory (%u): under "
               "load RX rings may run dry (rx_nombuf) while connections hold data",
               config.pipeline.mbufs, descriptors, part_tcp_rx + part_tcp_tx);
  // A whole frame per mbuf (received frames are never chained), in whole KB since some PMDs round
  // the buffer size down to that (drivers/port.cpp checks).
  const uint32_t frame_room = (drivers::frame_len_for_mtu(max_mtu) + 1023) & ~1023u;
  uint32_t data_room = RTE_PKTMBUF_HEADROOM + std::max<uint32_t>(frame_room, 2048);
  s.pool = rte_pktmbuf_pool_create("redline_mbufs", mbufs, kPoolCache, 0, uint16_t(data_room), int(rte_socket_id()));
  if (!s.pool) {
    *error = "cannot create a pool of " + std::to_string(mbufs) + " mbufs: " + rte_strerror(rte_errno) +
             " (give EAL more memory: -m MB with --no-huge, or reserve hugepages)";
    return false;
  }
  // Indirect mbufs (no data room) for fragmenting chained datagrams: only reassembled
  // datagrams that redline answers are chained, so a small pool serves.
  s.indirect_pool = rte_pktmbuf_pool_create("redline_indirect", 4096, 64, 0, 0, int(rte_socket_id()));
  if (!s.indirect_pool) {
    *error = std::string("cannot create the indirect mbuf pool: ") + rte_strerror(rte_errno);
    return false;
  }
  static const rte_mbuf_dynfield meta_field = {"redline_meta", sizeof(pipeline::MbufMeta), alignof(pipeline::MbufMeta), 0};
  s.meta_offset = rte_mbuf_dynfield_register(&meta_field);
  if (s.meta_offset < 0) {
    *error = std::string("cannot register mbuf field: ") + rte_strerror(rte_errno);
    return false;
  }

  // Attach and probe every port before configuring any: the RSS plan (one mirror size, the port
  // fields all RSS ports hash) depends on all of them (drivers/rss_plan.hpp).
  std::vector<drivers::RssCaps> caps;
  for (size_t i = 0; i < config.ports.size(); ++i) {
    const PortConfig& pc = config.ports[i];
    const auto xdp = drivers::af_xdp_args(pc.device);
    if (xdp && xdp->queue_count > workers) {
      *error = "ports[" + std::to_string(i) + "].device '" + pc.device + "': queue_count " + std::to_string(xdp->queue_count) +
               " is more than the " + std::to_string(workers) + " worker(s): the queues without one would pass their traffic to the kernel";
      return false;
    }
    if (xdp) {
      std::string notes;
      drivers::InterfaceState was;
      const std::string why = drivers::prepare_af_xdp(*xdp, pc.mtu, pc.mac, &notes, &was);
      changed_interfaces_.push_back(was);  // given back at shutdown, or by the destructor
      if (!why.empty()) {
        *error = "ports[" + std::to_string(i) + "].device '" + pc.device + "': " + why;
        return false;
      }
      if (!notes.empty()) std::printf("port %s: af_xdp: %s\n", pc.name.c_str(), notes.substr(0, notes.size() - 2).c_str());
    }
    auto id = drivers::attach(pc.device, error);
    if (!id) {
      if (xdp) *error += drivers::af_xdp_probe_hint(*xdp);
      return false;
    }
    pipeline::PortInfo info;
    info.dpdk_id = *id;
    info.name = pc.name;
    info.address = pc.address;
    info.mtu = pc.mtu;
    info.impair = pc.impair;
    if (pc.impair.active())
      log::write(log::Level::kWarning,
                 "port %s: impairment on (%s): loss %.1f%%, duplicate %.1f%%, reorder %.1f%%, corrupt %.1f%%, delay "
                 "%u ms +- %u ms, seed %llu: a test setting, never for production",
                 pc.name.c_str(), pc.impair.rx && pc.impair.tx ? "both directions" : pc.impair.rx ? "rx" : "tx",
                 pc.impair.loss * 100, pc.impair.duplicate * 100, pc.impair.reorder * 100, pc.impair.corrupt * 100,
                 pc.impair.delay_us / 1000, pc.impair.jitter_us / 1000, (unsigned long long)pc.impair.seed);
    s.ports.push_back(info);
    ports_open_ = true;  // attached: closed at shutdown
    auto probe = drivers::probe(*id, error);
    if (!probe) return false;
    caps.push_back(probe->rss);
  }
  const drivers::RssPlan plan = drivers::plan_rss(caps, uint16_t(workers));
  s.reta = rss::RetaMirror(workers, plan.reta_size);
  s.hash_fields = plan.fields;
  std::printf("rss: %u-entry mirror, hashing addresses%s%s\n", plan.reta_size,
              plan.fields.tcp_ports ? ", TCP ports" : "", plan.fields.udp_ports ? ", UDP ports" : "");

  for (size_t i = 0; i < config.ports.size(); ++i) {
    const PortConfig& pc = config.ports[i];
    pipeline::PortInfo& info = s.ports[i];
    drivers::PortRequest req{pc.name,          pc.device,         pc.mac,         pc.mtu, uint16_t(workers),
                             pc.rx_descriptors, pc.tx_descriptors, plan.rss_hf[i]};
    req.fast_free = !config.tcp.zero_copy_send;  // TCP keeps references to the mbufs it sends
    // AF_XDP ports receive into a pool of their own: DPDK 22.11's PMD keeps its fill ring and the
    // frames still in flight when it closes, so only the main pool's count can prove no leak.
    rte_mempool* rx_pool = s.pool;
    if (drivers::af_xdp_args(pc.device)) {
      if (!afxdp_pool_) {
        // Packed in one chunk, as the PMD's UMEM assumes (drivers/af_xdp_pool.hpp).
        afxdp_pool_ = drivers::create_af_xdp_pool("redline_afxdp", 8192 * workers + 8192, kPoolCache,
                                                  uint16_t(rte_pktmbuf_data_room_size(s.pool)), int(rte_socket_id()), error);
        if (!afxdp_pool_) return false;
      }
      rx_pool = afxdp_pool_;
    }
    auto ready = drivers::configure_and_start(info.dpdk_id, req, rx_pool, s.reta, error);
    if (!ready) {
      // The AF_XDP PMD opens its sockets at queue setup: a busy interface fails there.
      if (const auto xdp = drivers::af_xdp_args(pc.device)) *error += drivers::af_xdp_probe_hint(*xdp);
      return false;
    }
    info.mac = ready->mac;
    info.queues = ready->queues;
    if (ready->queues < workers) {
      // Workers without a queue here send through worker 0 (pipeline/shared.hpp PortInfo).
      const std::string ring = "rl_tx_" + std::to_string(i);
      info.tx_ring = rte_ring_create(ring.c_str(), 4096, int(rte_socket_id()), RING_F_SC_DEQ);
      if (!info.tx_ring) {
        *error = "cannot create ring " + ring + ": " + rte_strerror(rte_errno);
        return false;
      }
      std::printf("port %s: %u queue(s) for %u workers: workers %u-%u receive nothing from it and send through worker 0\n",
                  pc.name.c_str(), ready->queues, workers, unsigned(ready->queues), workers - 1);
    }
    // Trust the NIC's hash only if it hashes the fields software hashes (plan_rss makes it so for
    // every port it did not refuse; checked here so a mismatch can only cost a handoff).
    info.rss = ready->rss && ready->hash_fields == plan.fields;
    std::string why = !plan.software[i].empty() ? plan.software[i]
                      : !ready->rss_note.empty() ? ready->rss_note
                                                 : "hashes other fields than software";
    std::string rss = info.rss ? "programmed (RETA " + std::to_string(ready->reta_size) + ")" : "software (" + why + ")";
    std::printf("port %s: %s (%s) mac %s address %s mtu %u queues %u rss %s rx-csum %s tx-fast-free %s, %s\n",
                pc.name.c_str(), pc.device.c_str(), ready->driver.c_str(), ready->mac.to_string().c_str(),
                pc.address.to_string().c_str(), pc.mtu, unsigned(ready->queues), rss.c_str(),
                ready->rx_ip_checksum_offload ? "offload" : "software", ready->tx_fast_free ? "on"
                : config.tcp.zero_copy_send ? "off (tcp.zero_copy_send)" : "off",
                drivers::link_summary(info.dpdk_id).c_str());
    if (const auto xdp = drivers::af_xdp_args(pc.device))
      std::printf("port %s: af_xdp on %s queues %u-%u: %s\n", pc.name.c_str(), xdp->iface.c_str(), xdp->start_queue,
                  xdp->start_queue + xdp->queue_count - 1, drivers::describe_af_xdp(*xdp, info.dpdk_id).c_str());
  }

  if (!open_kernel_paths(config, workers, error)) return false;

  // Quiescent-state slots: one per worker, and one more for the control thread, which goes online
  // only while it reads the shared tables (show neighbors) so their reclamation waits for it.
  size_t qsbr_size = rte_rcu_qsbr_get_memsize(workers + 1);
  s.qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("redline_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
  if (!s.qsbr || rte_rcu_qsbr_init(s.qsbr, workers + 1) != 0) {
    *error = "cannot set up RCU";
    return false;
  }
  routes_ = ip::RouteTable::create("redline_routes", 1024, int(rte_socket_id()), error, s.qsbr);
  if (!routes_) return false;
  using Kind = ip::NextHop::Kind;
  for (size_t i = 0; i < s.ports.size(); ++i) {
    const auto& a = s.ports[i].address;
    uint16_t port = uint16_t(i);
    if (!routes_->add(a, {Kind::kForward, port, {}}, error) ||
        !routes_->add({a.addr, 32}, {Kind::kLocal, port, {}}, error) ||
        !routes_->add({a.directed_broadcast(), 32}, {Kind::kBroadcast, port, {}}, error))
      return false;
  }
  for (const auto& r : config.routes)
    if (!add_static_route(r, error)) return false;
  s.routes = routes_.get();

  neighbors_ = arp::NeighborTable::create("redline_neighbors", config.arp.table_size, int(rte_socket_id()), s.qsbr, error);
  if (!neighbors_) return false;
  s.neighbors = neighbors_.get();
  s.arp_commands = rte_ring_create("rl_arp_commands", 64, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!s.arp_commands) {
    *error = std::string("cannot create the ARP command ring: ") + rte_strerror(rte_errno);
    return false;
  }

  s.index_addresses();
  s.port_claims = local_claims(config);
  if (config.nat.enabled && !setup_nat(config, error)) return false;
  if (!setup_tcp(config, error)) return false;
  s.handoff.assign(size_t(workers) * workers, nullptr);
  s.arp_rings.assign(workers, nullptr);
  for (uint32_t src = 0; src < workers; ++src) {
    for (uint32_t dst = 0; dst < workers; ++dst) {
      if (src == dst) continue;
      std::string name = "rl_handoff_" + std::to_string(src) + "_" + std::to_string(dst);
      s.handoff[src * workers + dst] = rte_ring_create(name.c_str(), kHandoffRingSize, int(rte_socket_id()),
                                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (!s.handoff[src * workers + dst]) {
        *error = "cannot create ring " + name + ": " + rte_strerror(rte_errno);
        return false;
      }
    }
    if (src == 0) continue;
    std::string name = "rl_arp_" + std::to_string(src);
    s.arp_rings[src] = rte_ring_create(name.c_str(), kHandoffRingSize, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!s.arp_rings[src]) {
      *error = "cannot create ring " + name + ": " + rte_strerror(rte_errno);
      return false;
    }
  }

  try {
    for (uint32_t w = 0; w < workers; ++w) workers_.push_back(std::make_unique<pipeline::Worker>(s, w));
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
  if (config.ip.learn_routes && !start_learning(error)) return false;
  // Views read from other threads (telemetry's, civetweb's) start only now that the workers
  // exist; shutdown() ends them before the workers go. Snapshots only read (see snapshot.hpp).
  auto take = [this] { return take_snapshot(*shared_, workers_); };
  register_telemetry(take);
  started_unix_s_ = int64_t(std::time(nullptr));
  started_tsc_ = rte_get_tsc_cycles();
  if (!config.control.metrics.empty()) {
    auto page = [this] {
      Snapshot s = take_snapshot(*shared_, workers_);
      s.lcores = lcores_;
      add_state(s);
      return render_prometheus(s);
    };
    metrics_ = MetricsServer::start(config.control.metrics, page, error);
    if (!metrics_) return false;
    std::printf("metrics: http://%s/metrics\n", config.control.metrics.c_str());
  }
  return true;
}

void App::launch() {
  for (size_t w = 0; w < workers_.size(); ++w)
    rte_eal_remote_launch(worker_main, workers_[w].get(), lcores_[w]);
  launched_ = true;
  std::printf("redline: %zu workers on lcores", workers_.size());
  for (unsigned l : lcores_) std::printf(" %u", l);
  std::printf("\nredline: ready\n");
  std::fflush(stdout);
}

void App::notify_ready() {
  loops_seen_.assign(workers_.size(), 0);
  service_.ready(std::to_string(workers_.size()) + " workers, " + std::to_string(shared_->ports.size()) + " ports" +
                 (server_ ? ", control socket open" : ""));
}

bool App::workers_turning() {
  bool all = true;
  for (size_t w = 0; w < workers_.size() && w < loops_seen_.size(); ++w) {
    const uint64_t now = workers_[w]->loops();
    all = all && now != loops_seen_[w];
    loops_seen_[w] = now;
  }
  return all;
}

void App::control_loop() {
  // The control thread's QSBR slot (setup() made one past the workers): registered, and online
  // only while it reads tables that workers' writers reclaim (show neighbors).
  if (shared_->qsbr) rte_rcu_qsbr_thread_register(shared_->qsbr, shared_->workers);
  snapshots_[0] = snapshots_[1] = take_snapshot(*shared_, workers_);
  uint64_t next_sample = rte_get_tsc_cycles() + shared_->tsc_hz;
  while (!g_quit.load(std::memory_order_relaxed)) {
    if (g_print_stats.exchange(false)) {
      print_stats(stdout, *shared_, workers_);
      print_tcp(stdout);
    }
    if (g_reload.exchange(false)) {
      Json r = reload();
      log::write(r.contains("error") ? log::Level::kError : log::Level::kInfo, "reload (SIGHUP): %s", r.dump().c_str());
    }
    if (server_) server_->poll(20);
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));
    service_.tick([this] { return workers_turning(); });
    if (route_watch_) route_watch_->poll();
    drain_nat_log();
    // A snapshot a second: rates and busy shares are the difference of the last two.
    if (rte_get_tsc_cycles() >= next_sample) {
      snapshots_[0] = std::move(snapshots_[1]);
      snapshots_[1] = take_snapshot(*shared_, workers_);
      next_sample += shared_->tsc_hz;
    }
  }
  if (shared_->qsbr) rte_rcu_qsbr_thread_unregister(shared_->qsbr, shared_->workers);
}

unsigned App::shutdown(bool print) {
  pipeline::Shared& s = *shared_;
  if (launched_) service_.stopping();
  server_.reset();
  // Their threads read the workers: stop them first (both wait for a request in progress).
  metrics_.reset();
  unregister_telemetry();
  s.quit.store(true, std::memory_order_relaxed);
  if (launched_)
    for (unsigned l : lcores_) rte_eal_wait_lcore(l);
  for (auto& w : workers_) w->release();
  drain_nat_log();  // what the workers logged last
  // What workers without a queue left for worker 0 after it stopped.
  for (auto& p : s.ports)
    if (p.tx_ring) {
      void* m;
      while (rte_ring_sc_dequeue(p.tx_ring, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
  for (auto& w : workers_)
    for (size_t c = 0; c < net::kCounterCount; ++c) final_totals_[c] += w->counters().get(c);
  if (print) print_stats(stdout, s, workers_);
  if (ports_open_)
    for (auto& p : s.ports) drivers::stop_and_close(p.dpdk_id);
  for (auto& k : s.kernel)
    if (k) drivers::stop_and_close(k->dpdk_id);  // the TAP's kernel side goes with it
  s.kernel.clear();
  for (const auto& was : changed_interfaces_) drivers::restore_interface(was);
  changed_interfaces_.clear();
  for (auto& p : s.ports) {
    rte_ring_free(p.tx_ring);
    p.tx_ring = nullptr;
  }
  for (rte_ring* r : s.handoff) rte_ring_free(r);
  for (rte_ring* r : s.arp_rings) rte_ring_free(r);
  rte_ring_free(s.arp_commands);
  s.arp_commands = nullptr;
  s.handoff.clear();
  s.arp_rings.clear();
  workers_.clear();
  unsigned in_use = s.pool ? rte_mempool_in_use_count(s.pool) : 0;
  if (afxdp_pool_ && print)
    std::printf("af_xdp: %u mbufs of the AF_XDP ports' pool stay with the PMD at close (its fill ring and frames in "
                "flight: DPDK 22.11 does not return them)\n",
                rte_mempool_in_use_count(afxdp_pool_));
  return in_use;
}

App::~App() {
  for (const auto& was : changed_interfaces_) drivers::restore_interface(was);
  delete shared_->live_settings.exchange(nullptr);
  metrics_.reset();
  unregister_telemetry();
  neighbors_.reset();
  routes_.reset();
  rte_free(shared_->qsbr);
  if (shared_->pool) rte_mempool_free(shared_->pool);
  if (shared_->indirect_pool) rte_mempool_free(shared_->indirect_pool);
}

}  // namespace redline::app
