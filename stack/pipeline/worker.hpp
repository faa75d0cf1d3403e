// One worker: the per-core run-to-completion loop and everything it owns.
//
// Packet flow (DESIGN.md): rx_burst -> classify (writes next[i], counts drops) -> each stage on
// its group of packets -> TX buffers flushed once per loop. Only worker 0 runs the ARP stage and
// owns the resolution queue: other workers hand it ARP packets and packets whose next hop is
// unknown, over single-producer/single-consumer rings.
#pragma once

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <array>
#include <memory>

#include "stack/icmp/error.hpp"
#include "stack/icmp/rate_limiter.hpp"
#include "stack/net/counters.hpp"
#include "stack/pipeline/shared.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::pipeline {

class ArpOwner;

class alignas(64) Worker {
 public:
  Worker(Shared& shared, uint32_t id);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Polls until shared.quit is set. Returns after flushing TX buffers.
  void run();
  // One loop iteration at TSC time `now_tsc`; returns the number of packets handled (tests
  // drive this directly).
  uint32_t poll_once(uint64_t now_tsc);
  uint32_t poll_once() { return poll_once(rte_rdtsc()); }
  // Frees everything the worker still holds (after run() returned, before ports stop).
  void release();

  uint32_t id() const { return id_; }
  const net::CounterSet& counters() const { return counters_; }

  // --- used by the stages (ipv4/icmp/arp paths) ---
  void count(net::Counter c, uint64_t n = 1) { counters_.add(c, n); }
  void drop(rte_mbuf* m, net::Counter reason) {
    counters_.add(reason);
    rte_pktmbuf_free(m);
  }
  // Sends an IPv4 datagram (its Ethernet header space already present) towards `dst` through the
  // routing table and the neighbor table; used for everything redline originates or answers.
  void output_ipv4(rte_mbuf* m);
  // Queues a finished frame on a port's TX buffer.
  void transmit(rte_mbuf* m, uint16_t port_index);
  // Sends an ICMP error about the datagram in `m` (not consumed) if the rules and the rate limit
  // allow (RFC 1812 §4.3.2.7, §4.3.2.8).
  void send_icmp_error(rte_mbuf* m, uint16_t in_port, const wire::ipv4::Repr& ip, const icmp::ErrorSpec& spec,
                       bool dst_is_broadcast);
  uint64_t now_ns() const;
  Shared& shared() { return s_; }

 private:
  enum Next : uint8_t { kDone, kArp, kIpv4, kHandoff };

  // A burst from port index `in_port`, or from handoff rings (kFromRing), where each packet's
  // MbufMeta names the port it came in by. The fast path keeps the port in a local array rather
  // than in the mbuf: the dynamic field sits in the mbuf's second cache line.
  static constexpr int kFromRing = -1;
  void process(rte_mbuf** pkts, uint32_t n, int in_port);
  Next classify(rte_mbuf* m, uint16_t in_port, bool from_ring, uint32_t* owner);
  uint32_t owner_of(rte_mbuf* m, uint16_t in_port, const uint8_t* ip) const;
  void ipv4_input(rte_mbuf** pkts, const uint16_t* in_ports, uint32_t n);
  void forward(rte_mbuf** pkts, const uint16_t* in_ports, const uint32_t* hops, uint32_t n);
  void local_input(rte_mbuf* m, uint16_t in_port, const wire::ipv4::Repr& ip, bool broadcast);
  void icmp_input(rte_mbuf* m, const wire::ipv4::Repr& ip, bool broadcast);
  // Cold: records the packet's ports and next hop in its MbufMeta and hands it to ARP.
  void resolve_then_send(rte_mbuf* m, uint16_t in_port, uint16_t out_port, net::Ipv4Addr next_hop);
  void finish_frame(rte_mbuf* m, uint16_t out_port, const net::MacAddr& dst);
  void flush_handoff();
  void flush_tx();

  Shared& s_;
  uint32_t id_;
  net::CounterSet counters_;
  icmp::RateLimiter icmp_limit_;
  uint16_t ip_ident_ = 0;
  std::array<rte_eth_dev_tx_buffer*, kMaxPorts> tx_{};
  // Packets staged for each destination core during one burst, enqueued in bulk.
  std::array<std::array<rte_mbuf*, kMaxBurst>, kMaxWorkers>* staged_ = nullptr;
  std::array<uint16_t, kMaxWorkers> staged_count_{};
  std::unique_ptr<ArpOwner> arp_;  // worker 0 only
  friend class ArpOwner;
};

}  // namespace redline::pipeline
