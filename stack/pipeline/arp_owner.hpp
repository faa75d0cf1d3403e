// The ARP stage (RFC 826) and next-hop resolution, run by worker 0 only.
//
// Problem: the neighbor table needs one writer, and packets whose next hop is unknown must
// wait somewhere bounded while a request is out. Choice: worker 0 owns both. Other workers hand
// it ARP frames and unresolved packets over their ARP rings (apart from the data handoff rings,
// so ARP never waits behind data); it answers, learns (publishing to the lock-free table every
// worker reads), retries, ages entries and gives up with ICMP host unreachable (RFC 1812
// §4.3.3.1 via RFC 1122 §2.3.2.2), marking the next hop unreachable for a while.
//
// Why worker 0 and not the control thread (as DESIGN.md suggests for rarely written state):
// resolution sends and receives packets, and only workers own TX queues; a resolved packet must
// leave within microseconds, and the control thread sleeps between polls so it leaves a CPU of
// these small machines to the workers. Writes are rare either way (one per new neighbor). The
// control plane will reach the owner through a command ring to change the table.
#pragma once

#include <rte_mbuf.h>

#include <deque>

#include "stack/arp/neighbor_aging.hpp"
#include "stack/arp/pending_queue.hpp"
#include "stack/net/rate_limiter.hpp"
#include "stack/net/types.hpp"
#include "stack/pipeline/shared.hpp"

namespace redline::pipeline {

class Worker;

class ArpOwner final : private arp::PendingQueue<rte_mbuf*>::Events, private arp::NeighborAging::Events {
 public:
  explicit ArpOwner(Worker& worker);
  ~ArpOwner();
  // An ARP frame (Ethernet header validated); its MbufMeta names the port it came in by.
  void input(rte_mbuf* m);
  // A packet that leaves by meta.out_port to meta.next_hop, whose MAC was not in the table.
  void resolve(rte_mbuf* m);
  // Announces at start, takes work from the other workers' ARP rings, sends paced probes.
  // Timers run from the worker's wheel. Returns work done.
  uint32_t poll();
  void release();
  // New limits and timers from a reload: they apply to resolutions and entries from now on.
  void adopt(const Settings& settings);

 private:
  void send_request(uint16_t port, net::Ipv4Addr target);
  void learned(net::Ipv4Addr ip);
  // Drops a neighbor (neighbor flush): resolved again by the next packet that needs it.
  void forget(net::Ipv4Addr ip);
  // PendingQueue::Events
  void retry(net::Ipv4Addr ip, uint16_t port) override { send_request(port, ip); }
  void failed(net::Ipv4Addr ip, uint16_t port, std::deque<rte_mbuf*>& packets) override;
  // NeighborAging::Events
  void probe(net::Ipv4Addr ip, uint16_t port) override;
  void expired(net::Ipv4Addr ip) override;

  Worker& w_;
  arp::PendingQueue<rte_mbuf*> pending_;
  arp::NeighborAging aging_;
  // Refresh probes wait here and leave at most settings.arp_probes_per_ms per millisecond.
  struct Probe {
    net::Ipv4Addr ip;
    uint16_t port;
    bool counted;  // already counted as deferred
  };
  std::deque<Probe> probes_;
  net::RateLimiter probe_pace_;
  bool announced_ = false;
};

}  // namespace redline::pipeline
