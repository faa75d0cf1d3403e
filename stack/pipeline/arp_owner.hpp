// The ARP stage (RFC 826) and next-hop resolution, run by worker 0 only.
//
// Problem: the neighbor table needs one writer, and packets whose next hop is unknown must
// wait somewhere bounded while a request is out. Choice: worker 0 owns both. Other workers hand
// it ARP frames and unresolved packets over SPSC rings; it answers, learns (publishing to the
// lock-free table every worker reads), retries, ages entries and gives up with ICMP host
// unreachable (RFC 1812 §4.3.3.1 via RFC 1122 §2.3.2.2).
#pragma once

#include <rte_mbuf.h>

#include "stack/arp/pending_queue.hpp"
#include "stack/net/types.hpp"

namespace redline::pipeline {

class Worker;

class ArpOwner {
 public:
  explicit ArpOwner(Worker& worker);
  // An ARP frame (Ethernet header validated) that arrived on port index `in_port`.
  void input(rte_mbuf* m, uint16_t in_port);
  // A packet that leaves by meta.out_port to meta.next_hop, whose MAC was not in the table.
  void resolve(rte_mbuf* m);
  // Announces at start, takes packets from the other workers, runs timers when due (`now_tsc` is
  // the loop's TSC). Returns work done.
  uint32_t poll(uint64_t now_tsc);
  void release();

 private:
  void send_request(uint16_t port, net::Ipv4Addr target);
  void learned(net::Ipv4Addr ip);

  Worker& w_;
  arp::PendingQueue<rte_mbuf*> pending_;
  uint64_t next_tick_tsc_ = 0;
  bool announced_ = false;
};

}  // namespace redline::pipeline
