#include "stack/pipeline/worker.hpp"

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <unistd.h>

#include "stack/pipeline/arp_owner.hpp"
#include "stack/pipeline/builtin_stages.hpp"
#include "stack/pipeline/reassembly.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::pipeline {

using net::Counter;

namespace {
// A timer tick is the power of two of TSC cycles nearest below 100 µs: converting the loop's
// TSC to ticks is then a shift. Fine enough for every protocol timer (TCP's minimum RTO is
// 200 ms by default; delayed ACKs 40 ms).
unsigned tick_shift_for(uint64_t tsc_hz) {
  unsigned shift = 0;
  while ((uint64_t(1) << (shift + 1)) <= tsc_hz / 10'000) ++shift;
  return shift;
}
}  // namespace

Worker::Worker(Shared& shared, uint32_t id)
    : s_(shared),
      id_(id),
      ns_per_tsc_q32_(uint64_t((1e9 / double(shared.tsc_hz)) * 4294967296.0)),
      tick_shift_(tick_shift_for(shared.tsc_hz)),
      icmp_limit_(shared.settings.icmp_error_rate, shared.settings.icmp_error_burst),
      wheel_(rte_rdtsc() >> tick_shift_),
      local_ports_(shared.port_claims, shared.nat_outside,
                   {&shared.toeplitz, &shared.reta, shared.hash_fields, id, shared.workers}),
      originated_(std::make_unique<Burst>()),
      rx_burst_(std::make_unique<Burst>()) {
  now_tsc_ = rte_rdtsc();
  graph_.set_tracer(&tracer_);
  originated_more_.reserve(kOriginatedMax);
  tx_storage_ = static_cast<std::array<TxQueue, kMaxPorts>*>(
      rte_zmalloc("redline_txq", sizeof(std::array<TxQueue, kMaxPorts>), RTE_CACHE_LINE_SIZE));
  if (!tx_storage_) throw std::runtime_error("cannot allocate TX queues for worker " + std::to_string(id));
  tx_ = tx_storage_->data();
  impair_rx_.resize(s_.ports.size());
  impair_tx_.resize(s_.ports.size());
  for (size_t p = 0; p < s_.ports.size(); ++p) {
    const ImpairConfig& ic = s_.ports[p].impair;
    if (!ic.active()) continue;
    // A generator per worker, port and direction, all from the configured seed.
    const uint64_t base = ic.seed * 0x9e3779b97f4a7c15ull ^ (uint64_t(id_) << 32) ^ (uint64_t(p) << 16);
    if (ic.rx) impair_rx_[p] = std::make_unique<Impairment>(ic, base ^ 0x5258, s_.pool, s_.tsc_hz);
    if (ic.tx) impair_tx_[p] = std::make_unique<Impairment>(ic, base ^ 0x5458, s_.pool, s_.tsc_hz);
    impaired_ = true;
  }
  try {
    build_graph();
    if (id_ == 0) arp_ = std::make_unique<ArpOwner>(*this);
  } catch (...) {
    rte_free(tx_storage_);  // the destructor does not run for a throwing constructor
    throw;
  }
}

Worker::~Worker() { rte_free(tx_storage_); }

void Worker::build_graph() {
  StageGraph& g = graph_;
  g.set(kNextDrop, std::make_unique<DropStage>(*this));
  g.set(kNextHandoff, std::make_unique<HandoffStage>(*this));
  // Registration order is run order within a burst (stage_graph.hpp).
  BuiltinStages& b = builtin_;
  b.classify = g.add(std::make_unique<ClassifyStage>(*this));
  b.arp = g.add(std::make_unique<ArpStage>(*this));
  b.route = g.add(std::make_unique<RouteStage>(*this));
  std::string error;
  auto reassembly = Reassembly::create(s_.settings.reassembly_datagrams,
                                       s_.tsc_hz / 1000 * s_.settings.reassembly_timeout_ms, int(rte_socket_id()), &error);
  if (!reassembly) throw std::runtime_error(error);
  auto local = std::make_unique<LocalStage>(*this, std::move(reassembly));
  reassembly_ = &local->reassembly();
  b.local = g.add(std::move(local));
  g.set_local(wire::ipv4::kProtoIcmp, g.add(std::make_unique<IcmpStage>(*this)));
  g.set_local(wire::ipv4::kProtoUdp, g.add(std::make_unique<NoListenerStage>(*this, wire::ipv4::kProtoUdp)));
  g.set_local(wire::ipv4::kProtoTcp, g.add(std::make_unique<NoListenerStage>(*this, wire::ipv4::kProtoTcp)));
  b.local_out = g.add(std::make_unique<LocalOutStage>(*this));
  b.output = g.add(std::make_unique<OutputStage>(*this));
  g.set_hook_target(Hook::kPreRouting, b.route);
  g.set_hook_target(Hook::kPostRouting, b.output);
  for (auto& feature : s_.features) feature(g, *this);
}

uint64_t Worker::ns_to_ticks(uint64_t ns) const {
  return uint64_t((unsigned __int128)ns * s_.tsc_hz / 1'000'000'000u) >> tick_shift_;
}

void Worker::run() {
  if (s_.qsbr) {
    rte_rcu_qsbr_thread_register(s_.qsbr, id_);
    rte_rcu_qsbr_thread_online(s_.qsbr, id_);
  }
  // One TSC read per iteration (it costs tens of cycles in a VM): the start of this iteration
  // ends the previous one. busy_cycles / rx_packets is then the cost per packet whatever the
  // offered load, since iterations that found nothing are left out.
  uint64_t started = rte_rdtsc();
  while (!s_.quit.load(std::memory_order_relaxed)) {
    uint32_t handled = poll_once(started);
    loops_.store(loops_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // one writer
    // Reported once per loop: this core holds no reference into the neighbor table between
    // iterations, so entries deleted before this point may be reclaimed.
    if (s_.qsbr) rte_rcu_qsbr_quiescent(s_.qsbr, id_);
    if (handled == 0 && s_.settings.idle_sleep_us) usleep(s_.settings.idle_sleep_us);
    uint64_t now = rte_rdtsc();
    if (handled) counters_.add(Counter::busy_cycles, now - started);
    started = now;
  }
  flush_tx();
  if (s_.qsbr) {
    rte_rcu_qsbr_thread_offline(s_.qsbr, id_);
    rte_rcu_qsbr_thread_unregister(s_.qsbr, id_);
  }
}

uint32_t Worker::poll_once(uint64_t now_tsc) {
  const uint64_t last_tick = now_tick();
  now_tsc_ = now_tsc;
  if (const Settings* live = s_.live_settings.load(std::memory_order_acquire); live != settings_seen_) [[unlikely]]
    adopt_settings();
  rte_mbuf* pkts[kMaxBurst];
  uint32_t handled = 0;
  const uint16_t burst = uint16_t(s_.settings.burst);
  for (uint16_t p = 0; p < s_.ports.size(); ++p) {
    if (id_ >= s_.ports[p].queues) continue;  // a port with fewer queues than workers
    uint16_t n = rte_eth_rx_burst(s_.ports[p].dpdk_id, uint16_t(id_), pkts, burst);
    counters_.add(Counter::rx_packets, n);
    if (impaired_) [[unlikely]] n = impair_rx(p, pkts, n, burst);
    if (n == 0) continue;
    // The port is what we polled: not every PMD fills mbuf->port (net_ring does not).
    process(pkts, n, p);
    handled += n;
  }
  for (uint32_t src = 0; src < s_.workers; ++src) {
    if (src == id_) continue;
    unsigned n = rte_ring_sc_dequeue_burst(s_.handoff_ring(src, id_), reinterpret_cast<void**>(pkts), burst, nullptr);
    if (n == 0) continue;
    counters_.add(Counter::handoff_in, n);
    Burst& b = *rx_burst_;
    for (unsigned i = 0; i < n; ++i) rte_prefetch0(pkts[i]);
    for (unsigned i = 0; i < n; ++i) {
      b.pkts[i] = pkts[i];
      const uint16_t in_port = s_.meta(pkts[i]).in_port;
      b.meta[i].in_port = in_port & uint16_t(~kInPortTraced);
      b.meta[i].flags = kFlagFromRing;
      if (in_port & kInPortTraced) [[unlikely]] {
        b.meta[i].flags |= kFlagTraced;
        tracer_.carry();
      }
      b.meta[i].owner = uint8_t(id_);
      b.next[i] = builtin_.classify;
    }
    b.n = n;
    run_graph(b);
    handled += n;
  }
  if (arp_) handled += arp_->poll();
  if (!s_.kernel.empty() && now_tsc_ >= next_kernel_poll_) [[unlikely]] handled += poll_kernel();
  // Timers and reassembly time-outs move once per tick, in bounded steps.
  // Moves from outer levels are bounded too: at a million timers one outer slot holds many.
  if (now_tick() != last_tick || wheel_.size()) wheel_.advance(now_tick(), kTimerBudget, 4 * kTimerBudget);
  if (now_tick() != last_tick)
    if (uint32_t expired = reassembly_->expire(now_tsc_)) count(Counter::ipv4_reassembly_timeout, expired);
  for (IterationHook* h : hooks_) handled += h->on_iteration();
  mailbox_.serve();
  flush();
  // Worker 0 sending for workers without a queue is work too: it keeps the loop from sleeping.
  handled += shared_tx_drained_;
  shared_tx_drained_ = 0;
  return handled;
}

void Worker::process(rte_mbuf** pkts, uint32_t n, uint16_t in_port) {
  Burst& b = *rx_burst_;
  // Every mbuf header first (a PMD that does not write them on this core leaves them in
  // another core's cache); classify prefetches packet data a few packets ahead.
  for (uint32_t i = 0; i < n; ++i) rte_prefetch0(pkts[i]);
  for (uint32_t i = 0; i < n; ++i) {
    b.pkts[i] = pkts[i];
    b.meta[i].in_port = in_port;
    b.meta[i].flags = 0;
    b.next[i] = builtin_.classify;
  }
  b.n = n;
  run_graph(b);
}

void Worker::adopt_settings() {
  const Settings* live = s_.live_settings.load(std::memory_order_acquire);
  settings_seen_ = live;
  if (!live) return;
  icmp_limit_ = net::RateLimiter(live->icmp_error_rate, live->icmp_error_burst);
  if (arp_) arp_->adopt(*live);
}

bool Worker::originate(rte_mbuf* m, uint16_t in_port) {
  if (originated_n_ >= kOriginatedMax) {
    drop(m, Counter::originated_overflow);
    return false;
  }
  Burst& b = *originated_;
  if (b.n == kBurstSlots) {
    if (in_graph_) {
      // The graph is busy (a stage is sending): the burst runs after it, and this packet with
      // the next one.
      originated_more_.push_back({m, in_port});
      ++originated_n_;
      return true;
    }
    run_originated();
  }
  b.pkts[b.n] = m;
  b.meta[b.n].in_port = in_port;
  b.meta[b.n].flags = kFlagOriginated;
  b.next[b.n] = builtin_.local_out;
  ++b.n;
  ++originated_n_;
  return true;
}

void Worker::run_originated() {
  Burst& b = *originated_;
  size_t more = 0;
  while (b.n) {
    // Called between graph runs only: originated packets go through the graph on their own.
    run_graph(b);
    originated_n_ -= b.n;
    b.n = 0;
    // What waited behind a full burst, a burst at a time (running the graph may add more).
    while (more < originated_more_.size() && b.n < kBurstSlots) {
      auto [m, in_port] = originated_more_[more++];
      b.pkts[b.n] = m;
      b.meta[b.n].in_port = in_port;
      b.meta[b.n].flags = kFlagOriginated;
      b.next[b.n] = builtin_.local_out;
      ++b.n;
    }
  }
  originated_more_.clear();
}

void Worker::send_icmp_error(rte_mbuf* m, uint16_t in_port, const wire::ipv4::Repr& ip, const icmp::ErrorSpec& spec,
                             bool dst_is_broadcast) {
  const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
  // Quote only what lies in the first segment (a reassembled datagram is chained).
  wire::ipv4::Repr quoted = ip;
  quoted.total_len = uint16_t(std::min<uint32_t>(ip.total_len, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen));
  icmp::Offender offender;
  offender.ip = &quoted;
  offender.datagram = frame + wire::eth::kHeaderLen;
  offender.link_broadcast = wire::eth::dst(frame).is_multicast();
  offender.dst_is_broadcast = dst_is_broadcast;
  // Never about a datagram we originated ourselves (an error about our own reply would loop).
  if (!icmp::error_allowed(offender) || s_.local.port_of(ip.src) >= 0) return count(Counter::icmp_error_suppressed);
  if (!icmp_limit_.allow(now_ns())) return count(Counter::icmp_rate_limited);

  rte_mbuf* out = rte_pktmbuf_alloc(s_.pool);
  if (!out) return count(Counter::mbuf_alloc_failed);
  constexpr size_t kRoom = wire::eth::kHeaderLen + wire::icmp::kMaxErrorDatagram;
  uint8_t* data = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(out, kRoom));
  if (!data) {
    rte_pktmbuf_free(out);
    return count(Counter::mbuf_alloc_failed);
  }
  // RFC 1812 §4.3.2.4: the source is an address of the interface the error leaves by, the one
  // the route back to the offender's source uses (with symmetric routing, the one the probe came
  // in by, which is the hop traceroute names).
  const uint32_t back = s_.routes->lookup(ip.src);
  const uint16_t out_port = back != ip::RouteTable::kNoRoute && s_.routes->hop(back).kind == ip::NextHop::Kind::kForward
                                ? s_.routes->hop(back).port
                                : in_port;
  const net::Ipv4Addr source = s_.ports[out_port].address.addr;
  const size_t len = icmp::build_error(data + wire::eth::kHeaderLen, wire::icmp::kMaxErrorDatagram, offender, spec,
                                       source, ip_ident_++);
  rte_pktmbuf_trim(out, uint16_t(kRoom - wire::eth::kHeaderLen - len));
  count(Counter::icmp_errors_sent);
  originate(out, in_port);
}

void Worker::to_arp_owner(rte_mbuf* m, ArpWork kind) {
  if (arp_) return kind == ArpWork::kFrame ? arp_->input(m) : arp_->resolve(m);
  arp_out_[arp_out_n_++] = reinterpret_cast<rte_mbuf*>(reinterpret_cast<uintptr_t>(m) | uintptr_t(kind));
  if (arp_out_n_ == kMaxBurst) flush_arp_ring();
}

void Worker::flush_arp_ring() {
  if (arp_out_n_ == 0) return;
  const unsigned n = arp_out_n_;
  arp_out_n_ = 0;
  const unsigned sent = rte_ring_sp_enqueue_burst(s_.arp_rings[id_], reinterpret_cast<void**>(arp_out_), n, nullptr);
  for (unsigned i = sent; i < n; ++i)
    drop(reinterpret_cast<rte_mbuf*>(reinterpret_cast<uintptr_t>(arp_out_[i]) & ~uintptr_t(1)), Counter::arp_ring_full);
}

void Worker::flush_tx(uint16_t p) {
  TxQueue& q = tx_[p];
  const PortInfo& port = s_.ports[p];
  if (port.tx_ring) [[unlikely]] {
    if (id_ >= port.queues) {
      // No queue of our own on this port: worker 0 sends it (drain_shared_tx).
      if (q.n == 0) return;
      const unsigned queued = rte_ring_mp_enqueue_burst(port.tx_ring, reinterpret_cast<void**>(q.pkts), q.n, nullptr);
      if (queued < q.n) {
        counters_.add(Counter::tx_dropped, q.n - queued);
        rte_pktmbuf_free_bulk(q.pkts + queued, q.n - queued);
      }
      q.n = 0;
      return;
    }
    if (id_ == 0) shared_tx_drained_ += drain_shared_tx(p);
  }
  if (impaired_) [[unlikely]] impair_tx(p);
  if (q.n == 0) return;
  const uint16_t sent = rte_eth_tx_burst(port.dpdk_id, uint16_t(id_), q.pkts, q.n);
  counters_.add(Counter::tx_packets, sent);
  if (sent < q.n) {
    // The queue stayed full: count and free rather than spin, so a stalled port does not stall
    // the other ports of this core.
    counters_.add(Counter::tx_dropped, q.n - sent);
    rte_pktmbuf_free_bulk(q.pkts + sent, q.n - sent);
  }
  q.n = 0;
}

// What the workers without a queue on port `p` left in its ring, sent on worker 0's queue: all
// of it (a bounded number of rounds), so a worker 0 that sleeps when idle does not let it fill.
uint32_t Worker::drain_shared_tx(uint16_t p) {
  const PortInfo& port = s_.ports[p];
  rte_mbuf* pkts[kTxQueueLen];
  uint32_t drained = 0;
  for (int round = 0; round < 32; ++round) {
    const unsigned n = rte_ring_sc_dequeue_burst(port.tx_ring, reinterpret_cast<void**>(pkts), kTxQueueLen, nullptr);
    if (n == 0) break;
    drained += n;
    const uint16_t sent = rte_eth_tx_burst(port.dpdk_id, 0, pkts, uint16_t(n));
    counters_.add(Counter::tx_packets, sent);
    if (sent < n) {
      counters_.add(Counter::tx_dropped, n - sent);
      rte_pktmbuf_free_bulk(pkts + sent, n - sent);
      break;  // the queue is full: the rest waits for the next iteration
    }
  }
  return drained;
}

uint16_t Worker::impair_rx(uint16_t port, rte_mbuf** pkts, uint16_t n, uint16_t room) {
  Impairment* im = impair_rx_[port].get();
  if (!im) return n;
  rte_mbuf* out[kMaxBurst];
  const uint32_t k = im->pass(pkts, n, now_tsc_, out, room, counters_);
  std::copy(out, out + k, pkts);
  return uint16_t(k);
}

void Worker::impair_tx(uint16_t port) {
  Impairment* im = impair_tx_[port].get();
  if (!im) return;
  TxQueue& q = tx_[port];
  rte_mbuf* out[kTxQueueLen];
  const uint32_t k = im->pass(q.pkts, q.n, now_tsc_, out, kTxQueueLen, counters_);
  std::copy(out, out + k, q.pkts);
  q.n = uint16_t(k);
}

void Worker::flush_tx() {
  for (uint16_t p = 0; p < s_.ports.size(); ++p) flush_tx(p);
}

void Worker::release() {
  run_originated();
  flush_arp_ring();
  flush_tx();
  if (arp_) arp_->release();
  // Packets other cores handed to us after we stopped polling.
  for (uint32_t src = 0; src < s_.workers; ++src) {
    if (src == id_) continue;
    void* m;
    while (rte_ring_sc_dequeue(s_.handoff_ring(src, id_), &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
  flush_tx();
}

}  // namespace redline::pipeline
