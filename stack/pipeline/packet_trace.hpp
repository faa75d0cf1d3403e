// Packet trace, as VPP's `trace add`: the next N packets received (on one port, or any) are
// followed through the stage graph, each stage they enter with their headers as they were on
// entry, and where they ended: done (sent, delivered, kept), handed to another core, or dropped
// and why (redlinectl trace add / show trace / trace clear).
//
// Costs nothing when off: StageGraph::run looks at one relaxed atomic per burst (armed()), a
// branch predicted not taken; only a burst that finds the budget above zero runs the traced
// form of the loop (stage_graph.cpp). Records are kept by each worker (bounded, the oldest
// overwritten) and read through its mailbox, so no record is shared while it is written.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "stack/pipeline/stage.hpp"

namespace redline::pipeline {

// What the control thread sets, every worker reads (Shared::trace).
struct TraceControl {
  std::atomic<int64_t> remaining{0};  // packets still to trace, over every worker
  std::atomic<int32_t> port{-1};      // the port index they must arrive on; -1: any
};

struct TraceRecord {
  struct Step {
    std::string stage;
    std::string headers;  // on entry to the stage
  };
  uint64_t number = 0;  // per worker, from 1
  uint16_t in_port = 0;
  std::vector<Step> steps;
  std::string verdict;  // "done", "handoff to worker N", "drop: <counter>", "in flight"
};

class Tracer {
 public:
  static constexpr size_t kMaxRecords = 1000;

  explicit Tracer(TraceControl& control) : control_(control) {}
  bool armed() const { return carried_ || control_.remaining.load(std::memory_order_relaxed) > 0; }
  // The worker received a traced packet from another core (kFlagTraced): this burst is traced.
  void carry() { carried_ = true; }

  // --- the traced form of StageGraph::run ---
  // Picks the burst's packets to trace (taking them from the budget); false if none was.
  bool begin(Burst& b);
  bool traced(uint8_t slot) const { return slot_record_[slot] >= 0; }
  void enter(const Burst& b, uint8_t slot, const char* stage);
  void leave(Burst& b, uint8_t slot);  // after a stage ran: where the packet goes next
  void end();                                // the burst is through the graph

  // --- the control thread, through the worker's mailbox ---
  const std::vector<TraceRecord>& records() const { return records_; }
  void clear() {
    records_.clear();
    next_ = 0;
  }

 private:
  TraceControl& control_;
  std::vector<TraceRecord> records_;  // a ring of kMaxRecords
  size_t next_ = 0;                   // where the next record goes once the ring is full
  uint64_t numbered_ = 0;
  int32_t slot_record_[kBurstSlots];  // this burst: the record of each slot, or -1
  bool carried_ = false;
};

// "02:00:00:77:01:02 > 02:00:00:77:01:01 10.77.1.2 > 10.99.1.1 udp 40000 > 9 ttl 64 len 32": what
// a trace shows of a frame's headers.
std::string describe_headers(const rte_mbuf* m);

}  // namespace redline::pipeline
