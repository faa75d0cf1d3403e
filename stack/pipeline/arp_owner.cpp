#include "stack/pipeline/arp_owner.hpp"

#include <rte_cycles.h>
#include <rte_ring.h>

#include "stack/pipeline/worker.hpp"
#include "stack/wire/arp.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::pipeline {

using net::Counter;

namespace {
constexpr uint64_t kTickNs = 10'000'000;  // timers run every 10 ms: far finer than ARP needs
}

ArpOwner::ArpOwner(Worker& worker)
    : w_(worker),
      pending_(worker.shared().settings.max_resolving, worker.shared().settings.queue_per_neighbor,
               worker.shared().settings.resolve) {}

void ArpOwner::input(rte_mbuf* m, uint16_t port_index) {
  Shared& s = w_.shared();
  const PortInfo& port = s.ports[port_index];
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  auto parsed = wire::arp::parse(frame + wire::eth::kHeaderLen, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen);
  if (!parsed.repr) {
    static constexpr Counter kReasons[] = {Counter::arp_truncated, Counter::arp_bad_hardware,
                                           Counter::arp_bad_protocol, Counter::arp_bad_operation};
    return w_.drop(m, kReasons[size_t(parsed.error)]);
  }
  const wire::arp::Repr& req = *parsed.repr;
  const uint64_t now = w_.now_ns();
  // Learn only what could be a neighbor on this link: a sender inside the port's network that is
  // not claiming our own address or MAC (RFC 5227 §2.4 would call that a conflict).
  bool plausible = port.address.contains(req.sender_ip) && req.sender_ip != port.address.addr &&
                   req.sender_ip != port.address.directed_broadcast() && req.sender_mac != port.mac &&
                   !req.sender_mac.is_multicast() && !req.sender_mac.is_zero();
  bool for_us = req.target_ip == port.address.addr;
  arp::Neighbor neighbor{req.sender_mac, port_index};
  // RFC 826 "Packet Reception": merge the sender into an existing entry; add it if we are the
  // target.
  if (plausible) {
    if (for_us) {
      auto result = s.neighbors->learn(req.sender_ip, neighbor, now);
      if (result == arp::NeighborTable::Learn::kFull) w_.count(Counter::arp_table_full);
      else if (result != arp::NeighborTable::Learn::kUnchanged) w_.count(Counter::arp_learned);
      learned(req.sender_ip);
    } else if (s.neighbors->merge(req.sender_ip, neighbor, now)) {
      learned(req.sender_ip);
    }
  }
  if (!for_us) return w_.drop(m, Counter::arp_not_for_us);
  if (req.operation != wire::arp::kOpRequest) {
    rte_pktmbuf_free(m);  // a reply to us: learned above
    return;
  }
  w_.count(Counter::arp_requests_received);
  // Answer in place: the request frame becomes the reply.
  wire::arp::Repr reply{wire::arp::kOpReply, port.mac, port.address.addr, req.sender_mac, req.sender_ip};
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
  if (!neighbor) return;
  pending_.resolved(ip, [&](rte_mbuf* m) {
    uint16_t out_port = w_.shared().meta(m).out_port;
    w_.finish_frame(m, out_port, neighbor->mac);
    w_.transmit(m, out_port);
  });
}

void ArpOwner::resolve(rte_mbuf* m) {
  Shared& s = w_.shared();
  const MbufMeta meta = s.meta(m);
  // It may have been learned while the packet crossed the ring.
  if (auto neighbor = s.neighbors->lookup(meta.next_hop)) {
    w_.finish_frame(m, meta.out_port, neighbor->mac);
    return w_.transmit(m, meta.out_port);
  }
  switch (pending_.enqueue(meta.next_hop, meta.out_port, m, w_.now_ns())) {
    case arp::PendingQueue<rte_mbuf*>::Result::kQueuedFirst:
      w_.count(Counter::arp_queued);
      return send_request(meta.out_port, meta.next_hop);
    case arp::PendingQueue<rte_mbuf*>::Result::kQueued:
      return w_.count(Counter::arp_queued);
    case arp::PendingQueue<rte_mbuf*>::Result::kQueueFull:
    case arp::PendingQueue<rte_mbuf*>::Result::kTooManyNeighbors:
      return w_.drop(m, Counter::arp_queue_full);
  }
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

uint32_t ArpOwner::poll(uint64_t now_tsc) {
  Shared& s = w_.shared();
  uint32_t work = 0;
  if (!announced_) {
    // Gratuitous ARP (RFC 5227 §3): a request for our own address tells the link who we are and
    // refreshes stale caches after a restart.
    for (size_t p = 0; p < s.ports.size(); ++p) send_request(uint16_t(p), s.ports[p].address.addr);
    announced_ = true;
  }
  for (uint32_t src = 1; src < s.workers; ++src) {
    rte_mbuf* pkts[kMaxBurst];
    unsigned n = rte_ring_sc_dequeue_burst(s.resolve[src], reinterpret_cast<void**>(pkts), kMaxBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) resolve(pkts[i]);
    work += n;
  }
  // Checked every loop, so compared in TSC ticks; converted to ns only when timers run.
  if (now_tsc < next_tick_tsc_) return work;
  next_tick_tsc_ = now_tsc + s.tsc_hz / (1'000'000'000 / kTickNs);
  uint64_t now = w_.now_ns();
  pending_.tick(
      now, [&](net::Ipv4Addr ip, uint16_t port) { send_request(port, ip); },
      [&](rte_mbuf* m) {
        // RFC 1812 §5.2.7.1 via RFC 1122 §2.3.2.2: host unreachable when ARP gives up.
        auto parsed = wire::ipv4::parse(rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen),
                                        rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen, false);
        if (parsed.repr)
          w_.send_icmp_error(m, w_.shared().meta(m).in_port, *parsed.repr,
                             {wire::icmp::kDestUnreachable, wire::icmp::kHostUnreachable, 0}, false);
        w_.drop(m, Counter::arp_resolve_failed);
      });
  s.neighbors->age(now, s.settings.aging, [&](net::Ipv4Addr ip, const arp::Neighbor& n) { send_request(n.port, ip); });
  return work;
}

void ArpOwner::release() {
  Shared& s = w_.shared();
  pending_.drain([](rte_mbuf* m) { rte_pktmbuf_free(m); });
  for (uint32_t src = 1; src < s.workers; ++src) {
    void* m;
    while (rte_ring_sc_dequeue(s.resolve[src], &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
}

}  // namespace redline::pipeline
