// State every worker reads and (almost) nobody writes while they run: ports, routes, the
// neighbor table, RSS mirror, rings between cores and settings. Built by the application before
// the workers start; the neighbor table is the one part that changes, and it is lock-free.
#pragma once

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "stack/arp/neighbor_table.hpp"
#include "stack/arp/pending_queue.hpp"
#include "stack/ip/route_table.hpp"
#include "stack/net/types.hpp"
#include "stack/rss/toeplitz.hpp"

struct rte_ring;
struct rte_mempool;
struct rte_rcu_qsbr;

namespace redline::pipeline {

constexpr uint32_t kMaxPorts = 32;
constexpr uint32_t kMaxWorkers = 64;
constexpr uint32_t kMaxBurst = 64;

struct PortInfo {
  uint16_t dpdk_id = 0;
  std::string name;
  net::MacAddr mac;
  net::Ipv4Prefix address;
  uint16_t mtu = 1500;
  bool rss = false;  // the NIC hashes with our key and RETA, so mbuf->hash.rss names the owner
};

struct Settings {
  uint32_t burst = 32;
  uint32_t idle_sleep_us = 0;
  uint32_t icmp_error_rate = 100;
  uint32_t icmp_error_burst = 50;
  arp::AgingPolicy aging;
  arp::ResolveTiming resolve;
  uint32_t queue_per_neighbor = 16;
  uint32_t max_resolving = 256;
};

// Per-packet metadata carried in an mbuf dynamic field between stages and across cores.
struct MbufMeta {
  net::Ipv4Addr next_hop;  // set when the packet waits for ARP
  uint16_t out_port = 0;   // port index the packet leaves by
  uint16_t in_port = 0;    // port index the packet arrived on
};
static_assert(sizeof(MbufMeta) == 8);

struct Shared {
  std::vector<PortInfo> ports;
  ip::RouteTable* routes = nullptr;
  arp::NeighborTable* neighbors = nullptr;
  rss::Toeplitz toeplitz{rss::symmetric_key()};
  rss::RetaMirror reta{1};
  rte_mempool* pool = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  uint32_t workers = 1;
  std::vector<rte_ring*> handoff;  // [src * workers + dst], single producer, single consumer
  std::vector<rte_ring*> resolve;  // [src]: packets whose next hop needs ARP, to worker 0
  Settings settings;
  int meta_offset = -1;            // rte_mbuf_dynfield offset of MbufMeta
  uint64_t tsc_hz = 1;
  // Written by the control thread, read by workers once per loop; relaxed is enough because the
  // flag orders nothing else: workers only need to see it eventually.
  std::atomic<bool> quit{false};

  rte_ring* handoff_ring(uint32_t src, uint32_t dst) const { return handoff[src * workers + dst]; }
  MbufMeta& meta(rte_mbuf* m) const { return *RTE_MBUF_DYNFIELD(m, meta_offset, MbufMeta*); }
  // True if `a` is one of our interface addresses.
  int port_owning_address(net::Ipv4Addr a) const {
    for (size_t i = 0; i < ports.size(); ++i)
      if (ports[i].address.addr == a) return int(i);
    return -1;
  }
};

}  // namespace redline::pipeline
