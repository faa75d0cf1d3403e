// A stage of the packet pipeline, the per-burst context it works on, and the ids that name
// where a packet goes next.
//
// Problem: NAT, TCP/UDP, the load balancer and HTTP each need to see packets at a different
// point (before routing, after it, on local delivery of one protocol) without every feature
// editing the worker loop. Alternatives: a fixed call chain in the worker (what redline had:
// each feature edits it), a virtual call per packet (an indirect branch per packet per stage),
// or VPP's graph of nodes that each take a whole vector of packets. Choice: VPP's shape, kept
// small. A stage runs on a *span* of the burst (the packets whose next is that stage), writes
// each packet's next, and the dispatcher (stage_graph.hpp) groups by next and calls the next
// stage on its span: one virtual call per stage per burst, none per packet.
//
// Per-packet state that stages pass each other lives in the burst (PacketMeta), not in the
// mbuf: the burst stays in this core's L1, the mbuf's second cache line would not. Only what
// must cross cores (handoff, waiting for ARP) is copied into the mbuf's dynamic field.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "stack/net/counters.hpp"
#include "stack/net/types.hpp"

namespace redline::pipeline {

constexpr uint32_t kMaxBurst = 64;
// Slots of a burst: what came in plus room for the packets stages turn one into (an echo reply
// keeps its slot; errors and ARP are originated outside the burst, see Worker::originate).
constexpr uint32_t kBurstSlots = kMaxBurst;
constexpr uint32_t kMaxStages = 64;  // a 64-bit mask tracks which stages have packets waiting

// Where a packet goes next: a stage id, or one of the fixed ones below. Stage ids are given out
// by the StageGraph in registration order; lower ids run first within a burst.
using NextId = uint8_t;
// The two fixed stages take the highest ids so that they run last, once per burst.
constexpr NextId kNextDone = 0;                  // consumed by the stage (queued for TX, kept, freed)
constexpr NextId kNextDrop = kMaxStages - 1;     // freed in bulk; PacketMeta::drop says why
constexpr NextId kNextHandoff = kMaxStages - 2;  // to the core in PacketMeta::owner, over its ring

struct PacketMeta {
  uint16_t in_port = 0;      // port index the packet arrived on
  uint16_t out_port = 0;     // port index it leaves by, once routed
  net::Ipv4Addr next_hop;    // the neighbor it is sent to, once routed
  uint32_t route = 0;        // next-hop index from the route table
  uint32_t flow_hash = 0;    // Toeplitz hash of its tuple (the NIC's, or ours)
  net::Counter drop{};       // why, when next is kNextDrop
  uint8_t l3_offset = 0;     // from the frame start
  uint8_t l4_offset = 0;     // from the frame start (valid for the first fragment or whole)
  uint8_t owner = 0;         // the worker that owns its flow
  uint8_t flags = 0;         // kFlag* below
};
static_assert(sizeof(PacketMeta) <= 32, "PacketMeta is copied per packet per burst: keep it small");

// PacketMeta::flags
constexpr uint8_t kFlagToBroadcast = 1;    // addressed to a broadcast address of ours
constexpr uint8_t kFlagFromRing = 2;       // handed over by another core (already validated)
constexpr uint8_t kFlagOriginated = 4;     // made by redline itself (errors, replies)
constexpr uint8_t kFlagTraced = 8;         // traced on the core that handed it over: trace it on (packet_trace.hpp)

// One burst: its packets and their metadata, indexed by slot. Stages see slots through spans of
// slot indices, so moving a packet between stages copies one byte. Cache-line aligned and padded:
// it is written for every packet, and must share no line with anything another core touches.
struct alignas(64) Burst {
  rte_mbuf* pkts[kBurstSlots];
  PacketMeta meta[kBurstSlots];
  NextId next[kBurstSlots];
  uint32_t n = 0;

  void to(uint8_t slot, NextId id) { next[slot] = id; }
  void drop(uint8_t slot, net::Counter why) {
    next[slot] = kNextDrop;
    meta[slot].drop = why;
  }
};

// Scratch arrays of a stage's span, left uninitialised: value types with default member
// initialisers (Ipv4Addr, Neighbor) would otherwise be zeroed on every burst for nothing.
template <typename T, size_t N>
struct Scratch {
  union {
    T v[N];
  };
  Scratch() {}
  T& operator[](size_t i) { return v[i]; }
  const T& operator[](size_t i) const { return v[i]; }
  T* data() { return v; }
};

class Worker;

// A stage: runs on the slots `idx[0..n)` of `b` and sets b.next[] for each of them.
class Stage {
 public:
  virtual ~Stage() = default;
  virtual const char* name() const = 0;
  virtual void run(Burst& b, const uint8_t* idx, uint32_t n) = 0;

  // Where a hook stage sends packets it lets through: the next hook of its chain, or the stage
  // the chain leads to. Set by StageGraph::link().
  NextId proceed = kNextDrop;
};

}  // namespace redline::pipeline
