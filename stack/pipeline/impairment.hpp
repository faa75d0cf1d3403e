// A port's impairment: loss, duplication, reordering, delay with jitter and corruption of the
// frames it receives and sends, seeded and reproducible, each counted. It does netem's job,
// which this kernel lacks, for tests of redline's own TCP against Linux and against itself.
//
// Where: on the worker's own path, in front of processing (frames taken from the port's RX
// queue) and behind the TX buffer (frames about to be handed to the PMD), so both directions of
// a connection through one port are impaired and nothing else changes. A frame held for delay
// waits in a bounded queue ordered by the time it is due (a full queue drops, counted) and
// rejoins the path at the first poll after that: delay resolution is the loop's, microseconds
// here. Reordering is netem's: a chosen fraction of frames is held `reorder_gap` longer than
// the rest, so frames sent after it overtake it. Each worker draws from its own generator,
// seeded from the configured seed, the port, the direction and the worker, so a run with the
// same traffic makes the same choices.
//
// Off by default; a port without `[ports.impair]` never reaches this code (one predictable
// branch per poll and per TX flush).
#pragma once

#include <cstdint>
#include <queue>
#include <vector>

#include "stack/net/counters.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace redline::pipeline {

struct ImpairConfig {
  double loss = 0, duplicate = 0, reorder = 0, corrupt = 0;  // fractions of frames, 0..1
  uint32_t delay_us = 0, jitter_us = 0;  // each frame waits delay ± jitter (uniform)
  uint32_t reorder_gap_us = 1000;        // how much longer a reordered frame waits
  uint64_t seed = 1;
  bool rx = true, tx = true;             // which directions
  uint32_t queue = 4096;                 // frames held at most (per worker and direction)
  bool active() const { return loss > 0 || duplicate > 0 || reorder > 0 || corrupt > 0 || delay_us || jitter_us; }
  friend bool operator==(const ImpairConfig&, const ImpairConfig&) = default;
};

class Impairment {
 public:
  // `pool` makes duplicates; `tsc_hz` converts the delays.
  Impairment(const ImpairConfig& c, uint64_t seed, rte_mempool* pool, uint64_t tsc_hz);
  ~Impairment();
  Impairment(const Impairment&) = delete;
  Impairment& operator=(const Impairment&) = delete;

  // Takes `n` frames and writes to `out` (room for `room`) the frames to pass on now: what is
  // neither lost nor held, duplicates beside their originals, then the held frames now due.
  // Returns how many; frames that do not fit in `out` stay held (or, if they cannot be held,
  // are dropped and counted). `out` must not overlap `pkts` (duplicates make more frames).
  uint32_t pass(rte_mbuf** pkts, uint32_t n, uint64_t now_tsc, rte_mbuf** out, uint32_t room, net::CounterSet& c);
  uint32_t held() const { return uint32_t(held_.size()); }

 private:
  struct Held {
    uint64_t due;
    uint64_t order;  // arrival order among frames due at the same time
    rte_mbuf* m;
    bool operator>(const Held& o) const { return due != o.due ? due > o.due : order > o.order; }
  };
  double uniform();  // [0, 1)
  uint64_t next();
  void corrupt(rte_mbuf* m);
  // Frames with no delay go to `out`; others are held (or dropped when the queue is full).
  void place(rte_mbuf* m, uint64_t now, rte_mbuf** out, uint32_t room, uint32_t* k, net::CounterSet& c);

  ImpairConfig c_;
  uint64_t state_;
  rte_mempool* pool_;
  uint64_t delay_tsc_, jitter_tsc_, gap_tsc_;
  uint64_t order_ = 0;
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> held_;
};

}  // namespace redline::pipeline
