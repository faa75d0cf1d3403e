// State every worker reads and (almost) nobody writes while they run: ports, routes, the
// neighbor table, RSS mirror, rings between cores and settings. Built by the application before
// the workers start; the neighbor table is the one part that changes, and it is lock-free.
#pragma once

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stack/pipeline/impairment.hpp"
#include "stack/arp/neighbor_table.hpp"
#include "stack/arp/pending_queue.hpp"
#include "stack/endpoint/claims.hpp"
#include "stack/ip/pass_rules.hpp"
#include "stack/ip/route_table.hpp"
#include "stack/pipeline/packet_trace.hpp"
#include "stack/net/types.hpp"
#include "stack/rss/hash_input.hpp"
#include "stack/rss/toeplitz.hpp"

struct rte_ring;
struct rte_mempool;
struct rte_rcu_qsbr;

namespace redline::pipeline {

constexpr uint32_t kMaxPorts = 32;
constexpr uint32_t kMaxWorkers = 64;

class StageGraph;
class Worker;

struct PortInfo {
  uint16_t dpdk_id = 0;
  std::string name;
  net::MacAddr mac;
  net::Ipv4Prefix address;
  uint16_t mtu = 1500;
  bool rss = false;  // the NIC hashes with our key and RETA, so mbuf->hash.rss names the owner
  // Queue pairs the device has: one per worker, or fewer (a veth under AF_XDP has one). Workers
  // from `queues` on receive nothing from the port and send through `tx_ring`, which worker 0
  // drains into its queue (multi-producer, single consumer).
  uint16_t queues = 1;
  rte_ring* tx_ring = nullptr;
  ImpairConfig impair;  // [ports.impair]: off unless configured (tests)
};

// A port's kernel exception path ([ports.kernel]): a TAP, a DPDK port of its own with a queue
// pair per worker, whose kernel side carries the port's address and MAC. Traffic for the port's
// address that no stage of redline handles and `rules` pass goes to it; what the kernel sends on
// it is routed and sent by redline (kernel_path.cpp).
struct KernelPath {
  uint16_t dpdk_id = 0;
  uint16_t queues = 1;
  net::MacAddr peer_mac;  // what redline answers the kernel's ARP with (any address: all via us)
  ip::PassRules rules;
};

struct Settings {
  // Packets per rx_burst call. 64, not the 32 most DPDK samples use: every poll pays for the
  // ring's head and tail lines and the stage calls once, and on the in-process path, where those
  // lines come from the generator's core, 64 measured 99 cycles per packet against 120 at 32
  // (L3; NAT with 1 M sessions 203 against 229). testpmd io over memif was slower at 64 than
  // at its default 32, so its baseline keeps 32. perf/RESULTS.md, 2026-12-05 night.
  uint32_t burst = 64;
  uint32_t idle_sleep_us = 0;
  uint32_t icmp_error_rate = 100;
  uint32_t icmp_error_burst = 50;
  arp::AgingPolicy aging;
  struct {
    uint64_t retry_ns = 1'000'000'000;
    uint32_t retries = 3;  // requests sent in all before giving up
  } resolve;
  uint32_t queue_per_neighbor = 16;
  uint32_t max_resolving = 256;
  uint32_t arp_probes_per_ms = 64;         // refresh probes sent at most, per worker
  uint32_t reassembly_datagrams = 1024;    // datagrams being reassembled at once, per worker
  uint32_t reassembly_timeout_ms = 1000;   // a datagram's fragments are kept this long
};

// Our interface addresses and the directed broadcasts of our networks, asked about on every
// packet (martian sources, local delivery): one open-addressed table of 256 slots, one probe in
// the common case, instead of scans of the ports.
class LocalAddresses {
 public:
  enum class Kind : uint8_t { kNone, kAddress, kBroadcast };
  struct Entry {
    Kind kind = Kind::kNone;
    uint16_t port = 0;
  };
  // False when the table is full (it holds kSlots - 1 at most, so a search always ends).
  bool add(net::Ipv4Addr a, Kind kind, uint16_t port) {
    if (used_ + 1 >= kSlots && find(a).kind == Kind::kNone) return false;
    for (uint32_t i = slot(a);; i = (i + 1) % kSlots)
      if (entry_[i].kind == Kind::kNone || addr_[i] == a) {
        // The control thread may add (NAT pool addresses on reload) while workers look up: the
        // address is in place before the entry that makes it count.
        if (entry_[i].kind == Kind::kNone) ++used_;
        addr_[i] = a;
        std::atomic_thread_fence(std::memory_order_release);
        entry_[i] = {kind, port};
        return true;
      }
  }
  Entry find(net::Ipv4Addr a) const {
    for (uint32_t i = slot(a);; i = (i + 1) % kSlots) {
      if (entry_[i].kind == Kind::kNone || addr_[i] == a) return entry_[i];
    }
  }
  // The port index whose address `a` is, or -1.
  int port_of(net::Ipv4Addr a) const {
    Entry e = find(a);
    return e.kind == Kind::kAddress ? e.port : -1;
  }

 private:
  // 2 entries per port (kMaxPorts ports) and up to 64 NAT pool addresses: never more than half
  // full, so probes stay short.
  static constexpr uint32_t kSlots = 256;
  static uint32_t slot(net::Ipv4Addr a) { return (a.value * 2654435761u) >> 24; }
  std::array<net::Ipv4Addr, kSlots> addr_{};
  std::array<Entry, kSlots> entry_{};
  uint32_t used_ = 0;
};

// What a packet carries in an mbuf dynamic field when it crosses cores (handoff, the ARP ring)
// or waits for ARP; within a burst the same facts live in PacketMeta.
struct MbufMeta {
  net::Ipv4Addr next_hop;  // set when the packet waits for ARP
  uint16_t out_port = 0;   // port index the packet leaves by
  uint16_t in_port = 0;    // port index the packet arrived on; | kInPortTraced across a handoff
};
// In MbufMeta::in_port of a packet handed to another core: it is being traced (packet_trace.hpp),
// and the receiving core goes on tracing it. Port indexes stay far below (kMaxPorts).
constexpr uint16_t kInPortTraced = 0x8000;
static_assert(sizeof(MbufMeta) == 8);

// What crosses the ARP ring: an ARP frame, or a packet whose next hop needs resolving. The
// kind is carried in the ring entry's low pointer bit (mbufs are cache-line aligned), so the
// ring needs no second word.
enum class ArpWork : uintptr_t { kFrame = 0, kResolve = 1 };

// A request to the ARP owner from the control thread, packed in one ring word: the kind in the
// high half, an IPv4 address in the low.
enum class ArpCommand : uint32_t { kFlushOne = 1, kFlushAll = 2 };
inline void* arp_command(ArpCommand kind, net::Ipv4Addr ip = {}) {
  return reinterpret_cast<void*>((uintptr_t(kind) << 32) | ip.value);
}

struct Shared {
  std::vector<PortInfo> ports;
  ip::RouteTable* routes = nullptr;
  arp::NeighborTable* neighbors = nullptr;
  rss::Toeplitz toeplitz{rss::symmetric_key()};
  rss::RetaMirror reta{1};
  rss::HashFields hash_fields;  // what the RSS ports hash, so software hashes the same (hash_input.hpp)
  rte_mempool* pool = nullptr;
  rte_mempool* indirect_pool = nullptr;  // fragmenting chained datagrams (rte_ipv4_fragment_packet)
  rte_rcu_qsbr* qsbr = nullptr;
  uint32_t workers = 1;
  std::vector<rte_ring*> handoff;  // [src * workers + dst], single producer, single consumer
  // [src]: ARP frames and packets whose next hop needs ARP, from worker src to the ARP owner
  // (worker 0). Apart from the data handoff rings, so a full data ring never holds up ARP.
  std::vector<rte_ring*> arp_rings;
  // Control thread -> ARP owner: neighbor table changes (ArpCommand words), single producer.
  rte_ring* arp_commands = nullptr;
  LocalAddresses local;  // our interface addresses and our networks' directed broadcasts
  // The config's fixed port claims (endpoint/claims.hpp, conflict-free) and the addresses where
  // the NAT's hold (network byte order): each worker's port registry starts from them
  // (Worker::local_ports).
  std::vector<endpoint::Claim> port_claims;
  std::vector<uint32_t> nat_outside;
  std::vector<std::unique_ptr<KernelPath>> kernel;  // by port index; null where a port has none
  Settings settings;
  // Settings changed while running (reload: the ARP and ICMP ones). The control thread swaps in
  // a new copy with a release store and frees the old one after a QSBR grace period; workers
  // check the pointer once per loop iteration (acquire: the copy's contents come with it) and
  // apply what changed. Null until the first reload.
  std::atomic<const Settings*> live_settings{nullptr};
  int meta_offset = -1;            // rte_mbuf_dynfield offset of MbufMeta
  uint64_t tsc_hz = 1;
  // Written by the control thread, read by workers once per loop; relaxed is enough because the
  // flag orders nothing else: workers only need to see it eventually.
  std::atomic<bool> quit{false};
  // Packet trace (packet_trace.hpp): the control thread arms it, workers take from its budget.
  TraceControl trace;

  // Features (NAT, TCP, LB ...) add their stages to each worker's graph here, before the
  // workers are built: each is called once per worker with that worker's graph.
  std::vector<std::function<void(StageGraph&, Worker&)>> features;

  rte_ring* handoff_ring(uint32_t src, uint32_t dst) const { return handoff[src * workers + dst]; }
  MbufMeta& meta(rte_mbuf* m) const { return *RTE_MBUF_DYNFIELD(m, meta_offset, MbufMeta*); }
  // Fills `local` from the ports (after they are all known).
  void index_addresses() {
    local = LocalAddresses{};
    for (size_t i = 0; i < ports.size(); ++i) {
      local.add(ports[i].address.addr, LocalAddresses::Kind::kAddress, uint16_t(i));
      local.add(ports[i].address.directed_broadcast(), LocalAddresses::Kind::kBroadcast, uint16_t(i));
    }
  }
};

}  // namespace redline::pipeline
