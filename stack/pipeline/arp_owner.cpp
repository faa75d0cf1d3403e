#include "stack/pipeline/arp_owner.hpp"

#include <rte_ring.h>

#include "stack/pipeline/worker.hpp"
#include "stack/wire/arp.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::pipeline {

using net::Counter;

namespace {
arp::ResolveTiming resolve_ticks(const Worker& w, const Settings& s) {
  return {std::max<uint64_t>(1, w.ns_to_ticks(s.resolve.retry_ns)), s.resolve.retries};
}
arp::AgingTicks aging_ticks(const Worker& w, const Settings& s) {
  arp::AgingTicks t;
  t.reachable = std::max<uint64_t>(1, w.ns_to_ticks(s.aging.reachable_ns));
  t.probe_interval = std::max<uint64_t>(1, w.ns_to_ticks(s.aging.probe_interval_ns));
  t.probes = s.aging.probes;
  // As long as one resolution takes (retries × retry interval), so a failed next hop gets a new
  // try about as often as its packets would otherwise have started one.
  t.failed_hold = std::max<uint64_t>(1, w.ns_to_ticks(s.resolve.retry_ns * s.resolve.retries));
  return t;
}
}  // namespace

ArpOwner::ArpOwner(Worker& worker)
    : w_(worker),
      pending_(worker.shared().settings.max_resolving, worker.shared().settings.queue_per_neighbor,
               resolve_ticks(worker, worker.shared().settings), worker.timers(), *this),
      aging_(worker.timers(), aging_ticks(worker, worker.shared().settings), *this),
      probe_pace_(worker.shared().settings.arp_probes_per_ms * 1000, worker.shared().settings.arp_probes_per_ms) {}

ArpOwner::~ArpOwner() = default;

void ArpOwner::adopt(const Settings& s) {
  pending_.set_limits(s.max_resolving, s.queue_per_neighbor, resolve_ticks(w_, s));
  aging_.set_policy(aging_ticks(w_, s));
  probe_pace_ = net::RateLimiter(s.arp_probes_per_ms * 1000, s.arp_probes_per_ms);
}

void ArpOwner::input(rte_mbuf* m) {
  Shared& s = w_.shared();
  const uint16_t port_index = s.meta(m).in_port;
  const PortInfo& port = s.ports[port_index];
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  auto parsed = wire::arp::parse(frame + wire::eth::kHeaderLen, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen);
  if (!parsed.repr) {
    static constexpr Counter kReasons[] = {Counter::arp_truncated, Counter::arp_bad_hardware,
                                           Counter::arp_bad_protocol, Counter::arp_bad_operation};
    return w_.drop(m, kReasons[size_t(parsed.error)]);
  }
  const wire::arp::Repr& req = *parsed.repr;
  // Learn only what could be a neighbor on this link: a sender inside the port's network that is
  // not claiming our own address or MAC (RFC 5227 §2.4 would call that a conflict).
  bool plausible = port.address.contains(req.sender_ip) && req.sender_ip != port.address.addr &&
                   req.sender_ip != port.address.directed_broadcast() && req.sender_mac != port.mac &&
                   !req.sender_mac.is_multicast() && !req.sender_mac.is_zero();
  // Our port's address, or another address of ours on this link (a NAT pool address).
  bool for_us = req.target_ip == port.address.addr || s.local.port_of(req.target_ip) == int(port_index);
  arp::Neighbor neighbor{req.sender_mac, port_index};
  // RFC 826 "Packet Reception": merge the sender into an existing entry; add it if we are the
  // target.
  if (plausible) {
    if (for_us) {
      auto result = s.neighbors->learn(req.sender_ip, neighbor);
      if (result == arp::NeighborTable::Learn::kFull) w_.count(Counter::arp_table_full);
      else if (result != arp::NeighborTable::Learn::kUnchanged) w_.count(Counter::arp_learned);
      if (result != arp::NeighborTable::Learn::kFull) aging_.confirmed(req.sender_ip, port_index);
      learned(req.sender_ip);
    } else if (s.neighbors->merge(req.sender_ip, neighbor)) {
      aging_.confirmed(req.sender_ip, port_index);
      learned(req.sender_ip);
    }
  }
  if (!for_us) return w_.drop(m, Counter::arp_for_others);
  if (req.operation != wire::arp::kOpRequest) {
    rte_pktmbuf_free(m);  // a reply to us: learned above
    return;
  }
  w_.count(Counter::arp_requests_received);
  // Answer in place: the request frame becomes the reply.
  wire::arp::Repr reply{wire::arp::kOpReply, port.mac, req.target_ip, req.sender_mac, req.sender_ip};
  wire::eth::write(frame, req.sender_mac, port.mac, wire::eth::kTypeArp);
  wire::arp::write(frame + wire::eth::kHeaderLen, reply);
  // 60 bytes, the Ethernet minimum without FCS, as for requests: some PMDs do not pad.
  constexpr uint16_t kFrameLen = 60;
  uint16_t len = rte_pktmbuf_data_len(m);
  if (len > kFrameLen) {
    rte_pktmbuf_trim(m, uint16_t(len - kFrameLen));
  } else if (len < kFrameLen) {
    uint8_t* pad = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(kFrameLen - len)));
    if (pad) std::memset(pad, 0, kFrameLen - len);
  }
  std::memset(frame + wire::eth::kHeaderLen + wire::arp::kLen, 0, kFrameLen - wire::eth::kHeaderLen - wire::arp::kLen);
  w_.count(Counter::arp_replies_sent);
  w_.transmit(m, port_index);
}

void ArpOwner::learned(net::Ipv4Addr ip) {
  auto neighbor = w_.shared().neighbors->lookup(ip);
  if (!neighbor || neighbor->unreachable()) return;
  pending_.resolved(ip, [&](rte_mbuf* m) { w_.send_resolved(m, w_.shared().meta(m).out_port, neighbor->mac); });
}

void ArpOwner::resolve(rte_mbuf* m) {
  Shared& s = w_.shared();
  const MbufMeta meta = s.meta(m);
  // It may have been learned while the packet crossed the ring.
  if (auto neighbor = s.neighbors->lookup(meta.next_hop); neighbor && !neighbor->unreachable())
    return w_.send_resolved(m, meta.out_port, neighbor->mac);
  switch (pending_.enqueue(meta.next_hop, meta.out_port, m)) {
    case arp::PendingQueue<rte_mbuf*>::Result::kQueuedFirst:
      w_.count(Counter::arp_queued);
      return send_request(meta.out_port, meta.next_hop);
    case arp::PendingQueue<rte_mbuf*>::Result::kQueued:
      return w_.count(Counter::arp_queued);
    case arp::PendingQueue<rte_mbuf*>::Result::kQueueFull:
      return w_.drop(m, Counter::arp_queue_full);
    case arp::PendingQueue<rte_mbuf*>::Result::kTooManyNeighbors:
      return w_.drop(m, Counter::arp_resolving_full);
  }
}

void ArpOwner::failed(net::Ipv4Addr ip, uint16_t port, std::deque<rte_mbuf*>& packets) {
  // Refused at once for a while (output_stage.cpp), so the next packets do not each start
  // another round of requests.
  if (w_.shared().neighbors->mark_unreachable(ip)) aging_.failed(ip, port);
  for (rte_mbuf* m : packets) {
    // RFC 1812 §5.2.7.1 via RFC 1122 §2.3.2.2: host unreachable when ARP gives up.
    auto parsed = wire::ipv4::parse(rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen),
                                    rte_pktmbuf_pkt_len(m) - wire::eth::kHeaderLen, false);
    if (parsed.repr)
      w_.send_icmp_error(m, w_.shared().meta(m).in_port, *parsed.repr,
                         {wire::icmp::kDestUnreachable, wire::icmp::kHostUnreachable, 0}, false);
    w_.drop(m, Counter::arp_resolve_failed);
  }
}

void ArpOwner::probe(net::Ipv4Addr ip, uint16_t port) { probes_.push_back({ip, port, false}); }

void ArpOwner::expired(net::Ipv4Addr ip) { w_.shared().neighbors->remove(ip); }

void ArpOwner::forget(net::Ipv4Addr ip) {
  w_.shared().neighbors->remove(ip);
  aging_.forget(ip);
}

void ArpOwner::send_request(uint16_t port_index, net::Ipv4Addr target) {
  Shared& s = w_.shared();
  const PortInfo& port = s.ports[port_index];
  rte_mbuf* m = rte_pktmbuf_alloc(s.pool);
  if (!m) return w_.count(Counter::mbuf_alloc_failed);
  // 60 bytes: the Ethernet minimum without FCS, so PMDs that do not pad still send a legal frame.
  constexpr uint16_t kFrameLen = 60;
  uint8_t* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kFrameLen));
  if (!frame) {
    rte_pktmbuf_free(m);
    return w_.count(Counter::mbuf_alloc_failed);
  }
  std::memset(frame, 0, kFrameLen);
  wire::eth::write(frame, net::MacAddr::broadcast(), port.mac, wire::eth::kTypeArp);
  wire::arp::write(frame + wire::eth::kHeaderLen,
                   {wire::arp::kOpRequest, port.mac, port.address.addr, net::MacAddr{}, target});
  w_.count(Counter::arp_requests_sent);
  w_.transmit(m, port_index);
}

uint32_t ArpOwner::poll() {
  Shared& s = w_.shared();
  uint32_t work = 0;
  if (!announced_) {
    // Gratuitous ARP (RFC 5227 §3): a request for our own address tells the link who we are and
    // refreshes stale caches after a restart.
    for (size_t p = 0; p < s.ports.size(); ++p) send_request(uint16_t(p), s.ports[p].address.addr);
    announced_ = true;
  }
  for (uint32_t src = 1; src < s.workers; ++src) {
    void* entries[kMaxBurst];
    unsigned n = rte_ring_sc_dequeue_burst(s.arp_rings[src], entries, kMaxBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) {
      const auto word = reinterpret_cast<uintptr_t>(entries[i]);
      auto* m = reinterpret_cast<rte_mbuf*>(word & ~uintptr_t(1));
      if (ArpWork(word & 1) == ArpWork::kFrame) input(m);
      else resolve(m);
    }
    work += n;
  }
  // The control thread's requests (neighbor flush).
  if (s.arp_commands) {
    void* words[16];
    const unsigned n = rte_ring_sc_dequeue_burst(s.arp_commands, words, 16, nullptr);
    for (unsigned i = 0; i < n; ++i) {
      const auto word = reinterpret_cast<uintptr_t>(words[i]);
      const net::Ipv4Addr ip{uint32_t(word)};
      if (ArpCommand(word >> 32) == ArpCommand::kFlushOne) {
        forget(ip);
      } else {
        std::vector<net::Ipv4Addr> all;
        s.neighbors->for_each([&](net::Ipv4Addr a, const arp::Neighbor&) { all.push_back(a); });
        for (net::Ipv4Addr a : all) forget(a);
      }
    }
    work += n;
  }
  // Refresh probes, paced: a table learned at once comes due at once.
  while (!probes_.empty()) {
    if (!probe_pace_.allow(w_.now_ns())) {
      // Each probe counted once: the uncounted ones are the newest, at the back.
      for (auto p = probes_.rbegin(); p != probes_.rend() && !p->counted; ++p) {
        p->counted = true;
        w_.count(Counter::arp_probes_deferred);
      }
      break;
    }
    send_request(probes_.front().port, probes_.front().ip);
    probes_.pop_front();
    ++work;
  }
  return work;
}

void ArpOwner::release() {
  Shared& s = w_.shared();
  pending_.drain([](rte_mbuf* m) { rte_pktmbuf_free(m); });
  for (uint32_t src = 1; src < s.workers; ++src) {
    void* m;
    while (rte_ring_sc_dequeue(s.arp_rings[src], &m) == 0)
      rte_pktmbuf_free(reinterpret_cast<rte_mbuf*>(reinterpret_cast<uintptr_t>(m) & ~uintptr_t(1)));
  }
}

}  // namespace redline::pipeline
