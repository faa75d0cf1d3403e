// What the NAT's workers share: the rules in force (swapped whole on reload) and each worker's
// stage, so a worker can ask another whether it holds an inside endpoint's mapping.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "stack/nat/nat_log.hpp"
#include "stack/nat/nat_rules.hpp"

namespace redline::nat {

class NatStage;

struct NatShared {
  explicit NatShared(NatRules initial) : in_force(std::make_unique<NatRules>(std::move(initial))) {
    rules.store(in_force.get(), std::memory_order_relaxed);
  }
  // The rules new sessions follow. The control thread stores a new set with release (its
  // contents come with the pointer, acquire in the workers) and frees the old one after an RCU
  // grace period; sessions copy what they need at creation, so existing ones keep theirs.
  std::atomic<const NatRules*> rules;
  std::unique_ptr<NatRules> in_force;  // owns what `rules` points at
  // Per worker, filled as the workers build their graphs. Other workers only call
  // NatStage::holds_mapping (a lock-free rte_hash read) on them.
  std::vector<NatStage*> stages;
  // Per worker, made before the workers start when [nat.log] is on: the allocation log's rings
  // (nat_log.hpp), drained by the control thread.
  std::vector<std::unique_ptr<LogRing>> logs;
};

}  // namespace redline::nat
