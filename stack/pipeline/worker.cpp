#include "stack/pipeline/worker.hpp"

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <unistd.h>

#include "stack/pipeline/arp_owner.hpp"
#include "stack/wire/ethernet.hpp"

namespace redline::pipeline {

using net::Counter;

namespace {
// TX buffer overflow: the queue stayed full. Count and free rather than spin: a stalled port
// must not stall the other ports of this core.
void on_unsent(rte_mbuf** pkts, uint16_t unsent, void* userdata) {
  auto* counters = static_cast<net::CounterSet*>(userdata);
  counters->add(Counter::tx_dropped, unsent);
  for (uint16_t i = 0; i < unsent; ++i) rte_pktmbuf_free(pkts[i]);
}
}  // namespace

Worker::Worker(Shared& shared, uint32_t id)
    : s_(shared), id_(id), icmp_limit_(shared.settings.icmp_error_rate, shared.settings.icmp_error_burst) {
  for (size_t p = 0; p < s_.ports.size(); ++p) {
    tx_[p] = static_cast<rte_eth_dev_tx_buffer*>(
        rte_zmalloc("redline_txbuf", RTE_ETH_TX_BUFFER_SIZE(kMaxBurst), RTE_CACHE_LINE_SIZE));
    if (!tx_[p]) {
      for (auto* b : tx_) rte_free(b);  // the destructor does not run for a throwing constructor
      throw std::runtime_error("cannot allocate a TX buffer for worker " + std::to_string(id));
    }
    rte_eth_tx_buffer_init(tx_[p], s_.settings.burst);
    rte_eth_tx_buffer_set_err_callback(tx_[p], on_unsent, &counters_);
  }
  staged_ = new std::array<std::array<rte_mbuf*, kMaxBurst>, kMaxWorkers>();
  if (id_ == 0) arp_ = std::make_unique<ArpOwner>(*this);
}

Worker::~Worker() {
  for (auto* b : tx_) rte_free(b);
  delete staged_;
}

uint64_t Worker::now_ns() const {
  return uint64_t(double(rte_get_tsc_cycles()) * (1e9 / double(s_.tsc_hz)));
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
  rte_mbuf* pkts[kMaxBurst];
  uint32_t handled = 0;
  const uint16_t burst = uint16_t(s_.settings.burst);
  for (uint16_t p = 0; p < s_.ports.size(); ++p) {
    uint16_t n = rte_eth_rx_burst(s_.ports[p].dpdk_id, uint16_t(id_), pkts, burst);
    if (n == 0) continue;
    counters_.add(Counter::rx_packets, n);
    // The port is what we polled: not every PMD fills mbuf->port (net_ring does not).
    process(pkts, n, p);
    handled += n;
  }
  for (uint32_t src = 0; src < s_.workers; ++src) {
    if (src == id_) continue;
    unsigned n = rte_ring_sc_dequeue_burst(s_.handoff_ring(src, id_), reinterpret_cast<void**>(pkts), burst, nullptr);
    if (n == 0) continue;
    counters_.add(Counter::handoff_in, n);
    process(pkts, n, kFromRing);
    handled += n;
  }
  if (arp_) handled += arp_->poll(now_tsc);
  flush_tx();
  return handled;
}

void Worker::process(rte_mbuf** pkts, uint32_t n, int in_port) {
  const bool from_ring = in_port == kFromRing;
  // Stage 1: classify every packet of the burst; drops are counted and freed here.
  Next next[kMaxBurst];
  uint32_t owner[kMaxBurst];
  // Two-level prefetch, as l3fwd does: every mbuf header of the burst first (a PMD that does
  // not write them on this core, or a handoff ring, leaves them in another core's cache), then
  // packet data a few packets ahead, whose address needs the header.
  constexpr uint32_t kAhead = 6;
  for (uint32_t i = 0; i < n; ++i) rte_prefetch0(pkts[i]);
  for (uint32_t i = 0; i < n && i < kAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
  uint16_t port[kMaxBurst];
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kAhead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kAhead], void*));
    port[i] = from_ring ? s_.meta(pkts[i]).in_port : uint16_t(in_port);
    next[i] = classify(pkts[i], port[i], from_ring, &owner[i]);
  }
  // Stage 2: each group to its handler.
  rte_mbuf* group[kMaxBurst];
  uint16_t group_port[kMaxBurst];
  uint32_t count = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (next[i] == kHandoff) {
      s_.meta(pkts[i]).in_port = port[i];  // the owner needs it for ICMP errors and ARP
      (*staged_)[owner[i]][staged_count_[owner[i]]++] = pkts[i];
    } else if (next[i] == kArp) {
      arp_->input(pkts[i], port[i]);
    } else if (next[i] == kIpv4) {
      group_port[count] = port[i];
      group[count++] = pkts[i];
    }
  }
  if (count) ipv4_input(group, group_port, count);
  flush_handoff();
}

uint32_t Worker::owner_of(rte_mbuf* m, uint16_t in_port, const uint8_t* ip) const {
  if (s_.workers == 1) return 0;
  // The NIC's hash is the same Toeplitz with the same key as ours (ports are programmed so).
  if ((m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) && s_.ports[in_port].rss) return s_.reta.owner(m->hash.rss);
  uint8_t tuple[rss::Toeplitz::kMaxInput];
  std::memcpy(tuple, ip + wire::ipv4::kSrc, 8);
  size_t len = 8;
  uint8_t proto = ip[wire::ipv4::kProtocol];
  uint16_t frag = wire::load16(ip, wire::ipv4::kFlagsFragment);
  size_t ihl = wire::ipv4::header_len(ip);
  // As the NIC does: TCP and UDP that are not fragments hash the ports too, the rest only the
  // addresses (so all fragments of a datagram meet on one core).
  if ((proto == wire::ipv4::kProtoTcp || proto == wire::ipv4::kProtoUdp) &&
      (frag & (wire::ipv4::kFlagMoreFragments | wire::ipv4::kFragmentOffsetMask)) == 0 &&
      rte_pktmbuf_data_len(m) >= wire::eth::kHeaderLen + ihl + 4) {
    std::memcpy(tuple + 8, ip + ihl, 4);
    len = 12;
  }
  return s_.reta.owner(s_.toeplitz.hash(tuple, len));
}

Worker::Next Worker::classify(rte_mbuf* m, uint16_t in_port, bool from_ring, uint32_t* owner) {
  const PortInfo& port = s_.ports[in_port];
  const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
  uint32_t len = rte_pktmbuf_data_len(m);
  if (len < wire::eth::kHeaderLen) return drop(m, Counter::eth_too_short), kDone;
  net::MacAddr dst = wire::eth::dst(frame);
  if (dst != port.mac && !dst.is_broadcast()) return drop(m, Counter::eth_not_for_us), kDone;

  uint16_t type = wire::eth::type(frame);
  if (type == wire::eth::kTypeArp) {
    if (id_ == 0) return kArp;
    *owner = 0;
    return kHandoff;
  }
  if (type != wire::eth::kTypeIpv4) return drop(m, Counter::eth_unsupported_type), kDone;
  if (from_ring) return kIpv4;  // validated by the core that received it

  const uint8_t* ip = frame + wire::eth::kHeaderLen;
  uint64_t csum_flags = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  if (csum_flags == RTE_MBUF_F_RX_IP_CKSUM_BAD) return drop(m, Counter::ipv4_bad_checksum), kDone;
  auto parsed = wire::ipv4::parse(ip, len - wire::eth::kHeaderLen, csum_flags != RTE_MBUF_F_RX_IP_CKSUM_GOOD);
  if (!parsed.repr) {
    static constexpr Counter kReasons[] = {Counter::ipv4_truncated, Counter::ipv4_bad_version,
                                           Counter::ipv4_bad_ihl, Counter::ipv4_bad_total_length,
                                           Counter::ipv4_bad_checksum};
    return drop(m, kReasons[size_t(parsed.error)]), kDone;
  }
  *owner = owner_of(m, in_port, ip);
  return *owner == id_ ? kIpv4 : kHandoff;
}

void Worker::flush_handoff() {
  for (uint32_t dst = 0; dst < s_.workers; ++dst) {
    uint16_t n = staged_count_[dst];
    if (n == 0) continue;
    staged_count_[dst] = 0;
    rte_mbuf** pkts = (*staged_)[dst].data();
    unsigned sent = rte_ring_sp_enqueue_burst(s_.handoff_ring(id_, dst), reinterpret_cast<void**>(pkts), n, nullptr);
    counters_.add(Counter::handoff_out, sent);
    for (unsigned i = sent; i < n; ++i) drop(pkts[i], Counter::handoff_ring_full);
  }
}

void Worker::transmit(rte_mbuf* m, uint16_t port_index) {
  counters_.add(Counter::tx_packets);
  rte_eth_tx_buffer(s_.ports[port_index].dpdk_id, uint16_t(id_), tx_[port_index], m);
}

void Worker::flush_tx() {
  for (size_t p = 0; p < s_.ports.size(); ++p)
    rte_eth_tx_buffer_flush(s_.ports[p].dpdk_id, uint16_t(id_), tx_[p]);
}

void Worker::finish_frame(rte_mbuf* m, uint16_t out_port, const net::MacAddr& dst) {
  wire::eth::write(rte_pktmbuf_mtod(m, uint8_t*), dst, s_.ports[out_port].mac, wire::eth::kTypeIpv4);
}

void Worker::resolve_then_send(rte_mbuf* m, uint16_t in_port, uint16_t out_port, net::Ipv4Addr next_hop) {
  MbufMeta& meta = s_.meta(m);
  meta.in_port = in_port;
  meta.out_port = out_port;
  meta.next_hop = next_hop;
  if (arp_) return arp_->resolve(m);
  if (rte_ring_sp_enqueue(s_.resolve[id_], m) != 0) drop(m, Counter::handoff_ring_full);
}

void Worker::release() {
  flush_tx();
  if (arp_) arp_->release();
  // Packets other cores handed to us after we stopped polling.
  for (uint32_t src = 0; src < s_.workers; ++src) {
    if (src == id_) continue;
    void* m;
    while (rte_ring_sc_dequeue(s_.handoff_ring(src, id_), &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
}

}  // namespace redline::pipeline
