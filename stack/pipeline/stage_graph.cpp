#include "stack/pipeline/stage_graph.hpp"

#include <algorithm>
#include <stdexcept>

namespace redline::pipeline {

StageGraph::StageGraph() { local_.fill(kNextDrop); }

NextId StageGraph::add(std::unique_ptr<Stage> stage) {
  if (next_id_ >= kNextHandoff) throw std::runtime_error("too many pipeline stages");
  stages_[next_id_] = std::move(stage);
  return next_id_++;
}

void StageGraph::set(NextId id, std::unique_ptr<Stage> stage) { stages_.at(id) = std::move(stage); }

void StageGraph::set_hook_target(Hook h, NextId target) {
  target_[size_t(h)] = target;
  link(h);
}

void StageGraph::add_hook(Hook h, NextId stage, HookOrder order) {
  auto& chain = hooks_[size_t(h)];
  // After every stage of the same or a lower order: equal orders keep the order of adding.
  const auto at = std::find_if(chain.begin(), chain.end(), [order](const Hooked& k) { return k.order > order; });
  chain.insert(at, {order, stage});
  link(h);
}

std::vector<NextId> StageGraph::hooks(Hook h) const {
  std::vector<NextId> out;
  for (const Hooked& k : hooks_[size_t(h)]) out.push_back(k.stage);
  return out;
}

void StageGraph::link(Hook h) {
  const auto& chain = hooks_[size_t(h)];
  NextId after = target_[size_t(h)];
  for (size_t i = chain.size(); i-- > 0;) {
    stages_[chain[i].stage]->proceed = after;
    after = chain[i].stage;
  }
  entry_[size_t(h)] = after;
}

void StageGraph::dispatch(const uint8_t* idx, uint32_t n, const NextId* next) {
  // Most spans go to one next stage as a whole: then one copy, instead of a store per packet
  // whose frame count the compiler must reload (byte stores may alias it).
  const NextId first = next[idx[0]];
  uint32_t same = 1;
  while (same < n && next[idx[same]] == first) ++same;
  if (same == n) {
    if (first == kNextDone) return;
    Frame& f = frames_[first];
    std::copy(idx, idx + n, f.idx + f.n);
    f.n += n;
    pending_ |= uint64_t(1) << first;
    return;
  }
  for (uint32_t k = 0; k < n; ++k) enqueue(idx[k], next[idx[k]]);
}

template <bool kTraced>
void StageGraph::run_burst(Burst& b) {
  // The traced form (kTraced) records, for the packets Tracer::begin picked, each stage they
  // enter and where they go after it; a burst of which it picked none runs untraced.
  if constexpr (kTraced)
    if (!tracer_->begin(b)) return run_burst<false>(b);
  uint8_t all[kBurstSlots];
  for (uint32_t i = 0; i < b.n; ++i) all[i] = uint8_t(i);
  dispatch(all, b.n, b.next);
  uint8_t idx[kBurstSlots];
  for (uint32_t runs = 0; pending_; ++runs) {
    const NextId id = NextId(__builtin_ctzll(pending_));
    Frame& f = frames_[id];
    if (runs >= kMaxRunsPerBurst && id != kNextDrop) {
      // Never expected: a cycle between stages. Everything left becomes a counted drop.
      for (NextId s = 1; s < kNextDrop; ++s) {
        for (uint32_t k = 0; k < frames_[s].n; ++k) {
          b.drop(frames_[s].idx[k], net::Counter::pipeline_loop);
          enqueue(frames_[s].idx[k], kNextDrop);
        }
        frames_[s].n = 0;
      }
      pending_ = uint64_t(1) << kNextDrop;
      continue;
    }
    // Copied out so the stage may send packets back to itself.
    const uint32_t n = f.n;
    std::copy(f.idx, f.idx + n, idx);
    f.n = 0;
    pending_ &= ~(uint64_t(1) << id);
    if constexpr (kTraced)
      for (uint32_t k = 0; k < n; ++k)
        if (tracer_->traced(idx[k])) tracer_->enter(b, idx[k], stages_[id]->name());
    stages_[id]->run(b, idx, n);
    if constexpr (kTraced)
      for (uint32_t k = 0; k < n; ++k)
        if (tracer_->traced(idx[k])) tracer_->leave(b, idx[k]);
    dispatch(idx, n, b.next);
  }
  if constexpr (kTraced) tracer_->end();
}

template void StageGraph::run_burst<true>(Burst&);
template void StageGraph::run_burst<false>(Burst&);

}  // namespace redline::pipeline
