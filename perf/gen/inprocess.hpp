// In-process device under test for redline-gen: the generator and the thing it measures share
// one process, joined by rte_ring pairs (rte_eth_from_rings), so no PMD copy or system call sits
// between them and the figure is the pipeline's own cost per core.
//
// Two devices: redline itself (App, on the worker lcores, from a config whose two ports name the
// ring devices), or the baseline, an io forwarder as testpmd's io mode does (port 0 <-> port 1).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "dpdk_app/app.hpp"
#include "stack/net/types.hpp"

namespace redline::gen {

class InProcessDut {
 public:
  // `config_path` empty: the io-forwarding baseline. Creates the ring ports: the device's named
  // after its config's two port devices (net_ring_<name>; io: net_ring_io0/1), the generator's
  // net_ring_gen0/1.
  static std::unique_ptr<InProcessDut> start(const std::string& config_path, rte_mempool* pool, std::string* error);
  ~InProcessDut();

  static constexpr const char* kGenPort0 = "net_ring_gen0";
  static constexpr const char* kGenPort1 = "net_ring_gen1";
  // The MAC the generator should address frames to.
  net::MacAddr dst_mac() const { return dst_mac_; }
  // Stops the device; for redline returns its busy cycles per packet (0 for io).
  double stop();

 private:
  std::unique_ptr<app::App> app_;
  uint16_t io_ports_[2] = {0, 0};
  unsigned io_lcore_ = 0;
  bool running_ = false;
  net::MacAddr dst_mac_;
};

}  // namespace redline::gen
