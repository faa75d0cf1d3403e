// The stage graph of one worker: which stages exist, where the hooks sit, and the dispatcher
// that moves a burst through them.
//
// The path of a packet (ids in registration order; a hook chain is empty until a feature adds
// to it):
//
//   rx_burst ─► classify ──► arp ──────────────────────────────► (ARP owner: answer, learn)
//     (Ethernet, IPv4 checks, │
//      martians, owner core)  ├──► handoff ─► owner core's ring ─► classify there
//                             ▼
//                       [pre-routing hooks: DNAT, LB] ─► route (LPM; forwarding: TTL, DF+MTU)
//                                                         │
//                  ┌────────────── local / broadcast ─────┴──────── forward ─────────┐
//                  ▼                                                                 │
//         local (reassembly) ─► per protocol:                                        │
//                               icmp / udp / tcp / feature stages                    │
//                                  │ replies                                         │
//                                  ▼                                                 │
//                     local-out (route of what we send) ──────────────┐              │
//                                                                     ▼              ▼
//                                                     [post-routing hooks: SNAT] ─► output
//                      (neighbor lookup, Ethernet header, fragmentation, TX queue; unknown
//                       neighbor ─► ARP owner's resolution queue)
//
// Anything a stage rejects goes to drop (counted by reason, freed in bulk). Packets redline
// makes from nothing (ICMP errors, ARP give-ups) enter at local-out through Worker::originate.
//
// Dispatch: each stage's waiting slots sit in a frame; a 64-bit mask says which frames are
// non-empty, and the lowest id runs next, so a burst flows stage by stage in registration
// order and a packet sent "back" (a reply to local-out) is picked up on the way. A stage runs
// on its whole frame with one virtual call.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "stack/pipeline/packet_trace.hpp"
#include "stack/pipeline/stage.hpp"

namespace redline::pipeline {

enum class Hook : uint8_t { kPreRouting, kPostRouting };

// Where a stage sits in its hook chain: lower runs first, equal ones in the order they were
// added. Named here so that features agree on their order without knowing each other.
enum class HookOrder : uint16_t {
  kFirst = 0,
  // A load balancer's virtual-service match: before the NAT, so that a packet for a VIP is
  // balanced, not taken for a DNAT port or a mapping's answer.
  kLoadBalancer = 100,
  kNat = 200,
  kLast = 0xffff,
};

class StageGraph {
 public:
  StageGraph();

  // Registers a stage; returns its id. Drop and handoff are given by the worker with set().
  NextId add(std::unique_ptr<Stage> stage);
  void set(NextId id, std::unique_ptr<Stage> stage);
  Stage& stage(NextId id) { return *stages_[id]; }
  // Registered stages, the two fixed ones included.
  size_t size() const { return next_id_ - 1 + 2; }

  // Hook chains: `target` is where the chain ends; hooks run by their HookOrder.
  void set_hook_target(Hook h, NextId target);
  void add_hook(Hook h, NextId stage, HookOrder order = HookOrder::kLast);
  // The stages of a chain, in the order packets meet them.
  std::vector<NextId> hooks(Hook h) const;
  // The first stage of a chain: its first hook, or the target when it has none.
  NextId entry(Hook h) const { return entry_[size_t(h)]; }

  // Local delivery per IP protocol; kNextDrop (counted as unsupported protocol) if nobody
  // registered one.
  void set_local(uint8_t protocol, NextId stage) { local_[protocol] = stage; }
  NextId local(uint8_t protocol) const { return local_[protocol]; }

  // Moves every slot of `b` through the graph, starting from b.next[]. Returns when every
  // packet is done, dropped or handed off.
  void run(Burst& b) {
    if (b.n == 0) return;
    if (tracer_ && tracer_->armed()) [[unlikely]]
      return run_burst<true>(b);
    run_burst<false>(b);
  }
  // Packet trace (packet_trace.hpp): set by the worker that owns this graph.
  void set_tracer(Tracer* t) { tracer_ = t; }

  // Stage runs in one burst beyond which the burst is cut short (a stage graph with a cycle
  // that never ends); what remains is dropped as pipeline_loop.
  static constexpr uint32_t kMaxRunsPerBurst = 4 * kMaxStages;

 private:
  template <bool kTraced>
  void run_burst(Burst& b);
  void link(Hook h);
  // Files the slots idx[0..n) under their next stages.
  void dispatch(const uint8_t* idx, uint32_t n, const NextId* next);
  void enqueue(uint8_t slot, NextId id) {
    if (id == kNextDone) return;
    Frame& f = frames_[id];
    f.idx[f.n++] = slot;
    pending_ |= uint64_t(1) << id;
  }

  struct Frame {
    uint8_t idx[kBurstSlots];
    uint32_t n = 0;
  };
  std::array<std::unique_ptr<Stage>, kMaxStages> stages_;
  NextId next_id_ = 1;
  std::array<Frame, kMaxStages> frames_{};
  uint64_t pending_ = 0;
  struct Hooked {
    HookOrder order;
    NextId stage;
  };
  std::array<std::vector<Hooked>, 2> hooks_;
  std::array<NextId, 2> target_{kNextDrop, kNextDrop};
  std::array<NextId, 2> entry_{kNextDrop, kNextDrop};
  std::array<NextId, 256> local_;
  Tracer* tracer_ = nullptr;
};

}  // namespace redline::pipeline
