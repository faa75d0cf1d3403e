// `show nat sessions` and `nat flush`: a worker's sessions listed and ended on its own core, in
// bounded slices (the control thread's jobs, worker_mailbox.hpp).
#include <algorithm>

#include "stack/nat/nat_stage.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::nat {

using net::Counter;

NatStage::SessionScan NatStage::scan_sessions(uint32_t from, uint32_t budget, const SessionFilter& filter,
                                              uint32_t max_rows, bool flush) {
  SessionScan out;
  const uint64_t now = w_.now_tick();
  const uint32_t end = uint32_t(std::min<uint64_t>(session_capacity_, uint64_t(from) + budget));
  uint32_t i = from;
  for (; i < end && out.rows.size() < max_rows; ++i) {
    Session& s = sessions_[i];
    if (s.protocol == 0 || !filter.matches(s)) continue;  // protocol 0: a free entry
    if (flush) {
      // Its timer may have fired already: then it waits in the expiry batch, which must not
      // end it a second time.
      std::erase(expiring_, i);
      release_session(s);
      ++out.flushed;
      continue;
    }
    const uint64_t idle = uint32_t(now) - s.last_used;
    const uint64_t timeout = timeout_ticks(s);
    out.rows.push_back({ends_of(s), s.protocol, s.flags, s.tcp.state, w_.ticks_to_seconds(idle),
                        w_.ticks_to_seconds(timeout > idle ? timeout - idle : 0)});
  }
  out.next = i;
  if (out.flushed) w_.count(Counter::nat_sessions_flushed, out.flushed);
  return out;
}

}  // namespace redline::nat
