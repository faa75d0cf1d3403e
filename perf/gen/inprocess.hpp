// In-process device under test for redline-gen: the generator and the thing it measures share
// one process, joined by rte_ring pairs (rte_eth_from_rings), so no PMD copy or system call sits
// between them and the figure is the pipeline's own cost per core.
//
// Three devices: redline itself (App, on the worker lcores, from a config whose two ports name
// the ring devices), or one of two baselines forwarding port 0 <-> port 1 on one worker lcore:
//   io       testpmd's io mode: moves mbuf pointers and touches no packet data. The ceiling of
//            the path, but nothing that reads a header can reach it here, because the generator
//            writes every frame on another core and the forwarder's first read of each mbuf and
//            of its data is a cross-core cache miss.
//   macswap  testpmd's macswap mode (app/test-pmd/macswap_sse.h): prefetches packet data four
//            ahead, swaps source and destination MAC of every frame, sets the mbuf's TX fields.
//            It pays the same cold misses any forwarder that reads headers pays, so it is the
//            baseline a router is held to on this path; io stays beside it as the ceiling.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <rte_ring.h>

#include "dpdk_app/app.hpp"
#include "stack/net/types.hpp"

namespace redline::gen {

class InProcessDut {
 public:
  // `device` is "io", "macswap" or a redline config file. Creates the ring ports: the device's
  // named after its config's two port devices (net_ring_<name>; baselines: net_ring_<mode>0/1),
  // the generator's net_ring_gen0/1.
  static std::unique_ptr<InProcessDut> start(const std::string& device, rte_mempool* pool, std::string* error);
  ~InProcessDut();

  static constexpr const char* kGenPort0 = "net_ring_gen0";
  static constexpr const char* kGenPort1 = "net_ring_gen1";
  // The MAC the generator should address frames to.
  net::MacAddr dst_mac() const { return dst_mac_; }
  // Stops the device; for redline returns its busy cycles per packet (0 for the baselines).
  double stop();
  // Frames waiting in the ring from generator port `gen_port` (0: kGenPort0) to the device.
  // The generator builds a burst only while this stays within --max-queued (256), as a wire
  // whose excess a NIC with a short RX ring drops at no one's cost. Unbounded, the 4096-frame
  // rings fill whenever the device is slower than the generator, and then the generator, not
  // the device, sets the rate: frames built and refused cost it an allocation, a copy and a
  // free each, and thousands of frames in flight push both sides' mbufs out of cache (measured
  // with redline: 9.1 Mpps at 4096 queued, 12.4 at 256, the device's own cycles per packet
  // 160 and 140; the macswap baseline 11.5 and 15.2–16.2).
  uint32_t queued(unsigned gen_port) const;

 private:
  std::unique_ptr<app::App> app_;
  uint16_t fwd_ports_[2] = {0, 0};
  unsigned fwd_lcore_ = 0;
  bool running_ = false;
  net::MacAddr dst_mac_;
  rte_ring* to_dut_[2] = {nullptr, nullptr};
};

}  // namespace redline::gen
