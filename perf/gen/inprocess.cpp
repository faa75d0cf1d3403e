#include "perf/gen/inprocess.hpp"

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "drivers/port.hpp"

namespace redline::gen {

namespace {
std::atomic<bool> g_io_stop{false};

// testpmd's io forwarding, minus testpmd: what any forwarder costs on this path at the least.
int io_forward(void* arg) {
  auto* ports = static_cast<uint16_t*>(arg);
  rte_mbuf* pkts[32];
  while (!g_io_stop.load(std::memory_order_relaxed)) {
    for (int dir = 0; dir < 2; ++dir) {
      uint16_t n = rte_eth_rx_burst(ports[dir], 0, pkts, 32);
      if (n == 0) continue;
      uint16_t sent = rte_eth_tx_burst(ports[1 - dir], 0, pkts, n);
      for (uint16_t i = sent; i < n; ++i) rte_pktmbuf_free(pkts[i]);
    }
  }
  return 0;
}

// A ring pair between the device (`dut`) and the generator (`gen`), both ethdev names, which
// rte_eth_from_rings forms as "net_ring_" + the name it is given.
bool make_link(const std::string& dut, const std::string& gen, std::string* error) {
  const std::string prefix = "net_ring_";
  if (dut.rfind(prefix, 0) != 0 || gen.rfind(prefix, 0) != 0) {
    *error = "in-process ports must be named net_ring_<name>, not '" + dut + "'";
    return false;
  }
  rte_ring* to_dut = rte_ring_create((dut + "_in").c_str(), 4096, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* from_dut = rte_ring_create((dut + "_out").c_str(), 4096, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!to_dut || !from_dut ||
      rte_eth_from_rings(dut.substr(prefix.size()).c_str(), &to_dut, 1, &from_dut, 1, rte_socket_id()) < 0 ||
      rte_eth_from_rings(gen.substr(prefix.size()).c_str(), &from_dut, 1, &to_dut, 1, rte_socket_id()) < 0) {
    *error = "cannot create ring ports " + dut + "/" + gen + ": " + rte_strerror(rte_errno);
    return false;
  }
  return true;
}
}  // namespace

std::unique_ptr<InProcessDut> InProcessDut::start(const std::string& config_path, rte_mempool* pool, std::string* error) {
  auto dut = std::unique_ptr<InProcessDut>(new InProcessDut());
  if (config_path.empty()) {
    const char* names[2] = {"net_ring_io0", "net_ring_io1"};
    const char* gens[2] = {kGenPort0, kGenPort1};
    rss::RetaMirror reta(1);
    for (int i = 0; i < 2; ++i) {
      if (!make_link(names[i], gens[i], error)) return nullptr;
      auto id = drivers::attach(names[i], error);
      if (!id) return nullptr;
      drivers::PortRequest req{names[i], names[i], std::nullopt, 1500, 1, 1024, 1024};
      if (!drivers::configure_and_start(*id, req, pool, reta, error)) return nullptr;
      dut->io_ports_[i] = *id;
    }
    dut->io_lcore_ = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
    if (dut->io_lcore_ >= RTE_MAX_LCORE) {
      *error = "the io forwarder needs a worker lcore (-l 0,1)";
      return nullptr;
    }
    g_io_stop = false;
    rte_eal_remote_launch(io_forward, dut->io_ports_, dut->io_lcore_);
    dut->running_ = true;
    dut->dst_mac_ = net::MacAddr{{0x02, 0, 0, 0, 0, 1}};
    return dut;
  }
  auto loaded = app::load_config(config_path);
  if (!loaded.config) {
    *error = loaded.error;
    return nullptr;
  }
  if (loaded.config->ports.size() != 2) {
    *error = config_path + ": an in-process run needs exactly two ports";
    return nullptr;
  }
  if (!make_link(loaded.config->ports[0].device, kGenPort0, error) ||
      !make_link(loaded.config->ports[1].device, kGenPort1, error))
    return nullptr;
  dut->app_ = std::make_unique<app::App>();
  if (!dut->app_->setup(*loaded.config, error)) return nullptr;
  dut->app_->launch();
  dut->running_ = true;
  dut->dst_mac_ = dut->app_->shared().ports[0].mac;
  return dut;
}

double InProcessDut::stop() {
  if (!running_) return 0;
  running_ = false;
  if (!app_) {
    g_io_stop = true;
    rte_eal_wait_lcore(io_lcore_);
    for (uint16_t p : io_ports_) drivers::stop_and_close(p);
    return 0;
  }
  unsigned in_use = app_->shutdown(getenv("REDLINE_GEN_STATS") != nullptr);
  if (in_use) std::fprintf(stderr, "redline-gen: redline left %u mbufs in use\n", in_use);
  uint64_t rx = app_->final_total(net::Counter::rx_packets);
  return rx ? double(app_->final_total(net::Counter::busy_cycles)) / double(rx) : 0;
}

InProcessDut::~InProcessDut() { stop(); }

}  // namespace redline::gen
