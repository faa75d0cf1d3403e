// One worker: the per-core run-to-completion loop, its queues and the state the core owns.
//
// The loop: rx_burst from each port and each handoff ring -> the stage graph (stage_graph.hpp
// draws the path) -> TX queues flushed once per iteration; the ARP ring (worker 0), the timer
// wheel and packets redline originated are served in the same iteration. Stages reach the core's
// services (TX, ICMP errors, the ARP owner, counters, time) through this class; everything here
// is touched by this core only, except the counters, which the control thread reads.
#pragma once

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <array>
#include <memory>
#include <vector>

#include "stack/endpoint/local_ports.hpp"
#include "stack/icmp/error.hpp"
#include "stack/net/rate_limiter.hpp"
#include "stack/pipeline/impairment.hpp"
#include "stack/net/counters.hpp"
#include "stack/pipeline/shared.hpp"
#include "stack/pipeline/stage_graph.hpp"
#include "stack/pipeline/worker_mailbox.hpp"
#include "stack/timer/timer_wheel.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::pipeline {

class ArpOwner;
class Reassembly;

// Work a feature does once per loop iteration, after the timers: a transport's output that had
// to wait (no mbuf, TX full, a per-call limit), the start of services. on_iteration returns the
// work it did (packets sent), so a busy feature keeps the loop from sleeping.
// A transport that wants the ICMP errors about what it sent (RFC 1122 §3.2.2.1, §4.2.3.9):
// given the ICMP message (header and quoted datagram, `len` bytes, checksum verified) on the
// worker that owns the quoted flow. True if it was the transport's; otherwise the kernel
// exception path may have it.
class IcmpErrorSink {
 public:
  virtual ~IcmpErrorSink() = default;
  virtual bool on_icmp_error(const uint8_t* icmp, size_t len) = 0;
};

class IterationHook {
 public:
  virtual ~IterationHook() = default;
  virtual uint32_t on_iteration() = 0;
};

// The ids of the built-in stages, for stages that send packets to them.
struct BuiltinStages {
  NextId classify = 0, arp = 0, route = 0, local = 0, local_out = 0, output = 0;
};

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
  // Runs a burst of received packets through the graph, as poll_once does for each rx_burst
  // (benchmarks push prepared bursts through here). `in_port` is the port index they came by.
  void process(rte_mbuf** pkts, uint32_t n, uint16_t in_port);
  // Sends what the iteration produced: originated packets, ARP work, the TX queues (the end of
  // poll_once; benchmarks that call process() directly call this).
  void flush() {
    run_originated();
    flush_arp_ring();
    flush_tx();
  }
  // Frees everything the worker still holds (after run() returned, before ports stop).
  void release();

  uint32_t id() const { return id_; }
  // Loop iterations run() has made: the control thread's sign that this worker is alive (the
  // systemd watchdog).
  uint64_t loops() const { return loops_.load(std::memory_order_relaxed); }
  const net::CounterSet& counters() const { return counters_; }
  StageGraph& graph() { return graph_; }
  const BuiltinStages& stages() const { return builtin_; }

  // --- services for stages ---
  Shared& shared() { return s_; }
  void count(net::Counter c, uint64_t n = 1) { counters_.add(c, n); }
  // For engines that count on the worker's behalf (the session engine).
  net::CounterSet& counter_set() { return counters_; }
  // Cold paths only: the fast path drops through the drop stage, in bulk.
  void drop(rte_mbuf* m, net::Counter reason) {
    counters_.add(reason);
    rte_pktmbuf_free(m);
  }
  // Queues a finished frame on a port's TX queue.
  void transmit(rte_mbuf* m, uint16_t port_index) {
    TxQueue& q = tx_[port_index];
    q.pkts[q.n++] = m;
    if (q.n == kTxQueueLen) flush_tx(port_index);
  }
  // Sends an IPv4 datagram that is routed and resolved: fragments it if it exceeds the port's
  // MTU, makes it one segment if the port cannot send chains, writes the Ethernet header.
  void send_resolved(rte_mbuf* m, uint16_t out_port, const net::MacAddr& dst) {
    const PortInfo& port = s_.ports[out_port];
    if (rte_pktmbuf_pkt_len(m) <= port.mtu + wire::eth::kHeaderLen && m->nb_segs == 1) [[likely]] {
      wire::eth::write(rte_pktmbuf_mtod(m, uint8_t*), dst, port.mac, wire::eth::kTypeIpv4);
      return transmit(m, out_port);
    }
    send_large(m, out_port, dst);
  }
  // A datagram redline made (its Ethernet header space already present): routed from
  // local-out at the end of this iteration. `in_port` names where its cause came from. False
  // (the mbuf freed, originated_overflow counted) when kOriginatedMax are already waiting.
  bool originate(rte_mbuf* m, uint16_t in_port);
  // Room left for originate() before the end of this iteration.
  uint32_t originate_room() const { return kOriginatedMax - uint32_t(originated_n_); }
  void add_iteration_hook(IterationHook* h) { hooks_.push_back(h); }
  // Jobs the control thread runs on this core (listings, deletions): served once per iteration.
  WorkerMailbox& mailbox() { return mailbox_; }
  // Its packet traces: read and cleared only through the mailbox (on this core).
  Tracer& tracer() { return tracer_; }
  void set_icmp_error_sink(uint8_t protocol, IcmpErrorSink* sink) { icmp_sinks_[protocol] = sink; }
  IcmpErrorSink* icmp_error_sink(uint8_t protocol) const { return icmp_sinks_[protocol]; }
  // Sends an ICMP error about the datagram in `m` (not consumed) if the rules and the rate
  // limit allow (RFC 1812 §4.3.2.7, §4.3.2.8).
  void send_icmp_error(rte_mbuf* m, uint16_t in_port, const wire::ipv4::Repr& ip, const icmp::ErrorSpec& spec,
                       bool dst_is_broadcast);
  // Passes `m` (for our address `dst`, arrived on `in_port`; protocol and, for TCP/UDP, its
  // ports) to the kernel exception path of the port owning `dst`, if that port has
  // one and its rules pass it (ICMP: any rule at all, for the kernel's own pings and errors).
  // True if taken (sent, or counted as dropped).
  // `tcp_reply`: a TCP segment with ACK and no SYN (it may answer a connection the kernel opened).
  bool to_kernel(rte_mbuf* m, uint16_t in_port, net::Ipv4Addr dst, uint8_t protocol, uint16_t src_port, uint16_t dst_port,
                 bool tcp_reply);
  // Hands ARP work to the ARP owner: directly on worker 0, over this core's ARP ring elsewhere.
  void to_arp_owner(rte_mbuf* m, ArpWork kind);
  // The loop's clock: TSC of this iteration, and the same in ns and in timer ticks.
  uint64_t now_tsc() const { return now_tsc_; }
  uint64_t now_ns() const { return uint64_t((unsigned __int128)now_tsc_ * ns_per_tsc_q32_ >> 32); }
  uint64_t now_tick() const { return now_tsc_ >> tick_shift_; }
  uint64_t ns_to_ticks(uint64_t ns) const;
  double ticks_to_seconds(uint64_t ticks) const { return double(ticks << tick_shift_) / double(s_.tsc_hz); }
  timer::Wheel& timers() { return wheel_; }
  // The worker's local ports: every dynamic port (NAT mapping, TCP connect) is taken here, and
  // listeners and binds check here that no one else holds theirs.
  endpoint::LocalPorts& local_ports() { return local_ports_; }

  // Expired timers run per loop iteration at most this many: bounded work per iteration. Twice
  // a burst, so that a steady flood of new flows (each a NAT session or TCP connection whose
  // timer fires later, some re-armed once by then) cannot outrun its own expiry: at one burst
  // per iteration expiry never caught up, and the new-sessions bench refused 14% of its flows
  // for want of free ports.
  static constexpr size_t kTimerBudget = 2 * kMaxBurst;
  // Packets originated in one iteration (TCP segments, replies, errors) before more are refused:
  // a transport's burst of segments is sent in runs of a burst each.
  static constexpr uint32_t kOriginatedMax = 1024;

 private:
  static constexpr uint32_t kTxQueueLen = 2 * kMaxBurst;
  struct TxQueue {
    rte_mbuf* pkts[kTxQueueLen];
    uint16_t n = 0;
  };
  void build_graph();
  // send_resolved's cold half: chains and datagrams beyond the MTU (output_stage.cpp).
  [[gnu::cold]] void send_large(rte_mbuf* m, uint16_t out_port, const net::MacAddr& dst);
  void flush_tx(uint16_t port_index);
  uint32_t drain_shared_tx(uint16_t port_index);
  // What the kernel sent on the exception paths (kernel_path.cpp), every ~50 us.
  uint32_t poll_kernel();
  [[gnu::cold]] void from_kernel(rte_mbuf* m, uint16_t port_index);
  const KernelPath* kernel_path_for(uint16_t in_port, net::Ipv4Addr dst, int* owner) const;
  void flush_tx();
  void flush_arp_ring();
  void run_originated();
  // Takes settings the control thread changed (Shared::live_settings), once per iteration.
  void adopt_settings();
  // Every graph run goes through here, so originate() knows whether the graph is busy.
  void run_graph(Burst& b) {
    in_graph_ = true;
    graph_.run(b);
    in_graph_ = false;
  }

  Shared& s_;
  uint32_t id_;
  net::CounterSet counters_;
  uint64_t now_tsc_ = 0;
  uint64_t ns_per_tsc_q32_ = 0;  // ns per TSC cycle, 32.32 fixed point
  unsigned tick_shift_ = 0;      // a timer tick is 2^tick_shift_ TSC cycles (~100 µs)
  uint16_t ip_ident_ = 0;
  net::RateLimiter icmp_limit_;
  timer::Wheel wheel_;
  endpoint::LocalPorts local_ports_;
  StageGraph graph_;
  BuiltinStages builtin_;
  std::array<TxQueue, kMaxPorts>* tx_storage_ = nullptr;
  TxQueue* tx_ = nullptr;
  // Per port, for ports with [ports.impair] (null otherwise); impaired_ if any is set.
  std::vector<std::unique_ptr<Impairment>> impair_rx_, impair_tx_;
  bool impaired_ = false;
  [[gnu::cold]] uint16_t impair_rx(uint16_t port, rte_mbuf** pkts, uint16_t n, uint16_t room);
  [[gnu::cold]] void impair_tx(uint16_t port);
  // Burst-sized batches: what goes to the ARP owner, and what redline originated.
  rte_mbuf* arp_out_[kMaxBurst];
  uint32_t arp_out_n_ = 0;
  std::unique_ptr<Burst> originated_;
  // Originated while the graph runs (a stage sent them) beyond one burst: run after it.
  std::vector<std::pair<rte_mbuf*, uint16_t>> originated_more_;
  size_t originated_n_ = 0;  // waiting in originated_ and originated_more_
  std::vector<IterationHook*> hooks_;
  WorkerMailbox mailbox_;
  Tracer tracer_{s_.trace};
  std::atomic<uint64_t> loops_{0};
  std::array<IcmpErrorSink*, 256> icmp_sinks_{};
  std::unique_ptr<Burst> rx_burst_;
  std::unique_ptr<ArpOwner> arp_;  // worker 0 only
  Reassembly* reassembly_ = nullptr;  // the local stage's
  bool in_graph_ = false;
  uint64_t next_kernel_poll_ = 0;  // TSC
  uint32_t shared_tx_drained_ = 0;  // sent for other workers this iteration (worker 0)
  // Packets passed to the kernel exception path: 50 000 a second per worker, bursts of 1000
  // (a TAP write costs ~1 us of this loop; SSH, BGP and DHCP need far less).
  net::RateLimiter kernel_limit_{50'000, 1'000};
  const Settings* settings_seen_ = nullptr;
};

}  // namespace redline::pipeline
