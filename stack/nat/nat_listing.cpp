// `show nat sessions` and `nat flush`: a worker's sessions listed and ended on its own core, in
// bounded slices (the control thread's jobs, worker_mailbox.hpp).
#include <algorithm>

#include "stack/nat/nat_stage.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::nat {

NatStage::SessionScan NatStage::scan_sessions(uint32_t from, uint32_t budget, const SessionFilter& filter,
                                              uint32_t max_rows, bool flush) {
  SessionScan out;
  const uint64_t now = w_.now_tick();
  out.next = sessions_->scan(from, budget, [&](Session& s) {
    if (!filter.matches(s)) return true;
    if (flush) {
      sessions_->end(s);
      ++out.flushed;
      return true;
    }
    out.rows.push_back({ends_of(s), s.protocol(), s.flags(), s.tcp.state,
                        w_.ticks_to_seconds(sessions_->idle_ticks(s, now)),
                        w_.ticks_to_seconds(sessions_->remaining_ticks(s, now))});
    return out.rows.size() < max_rows;
  });
  return out;
}

}  // namespace redline::nat
