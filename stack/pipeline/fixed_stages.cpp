// Stages that end a packet's path on this core: drop (counted by reason, freed in bulk),
// handoff to the owning core, and ARP frames to the ARP owner.
#include <rte_ring.h>

#include "stack/pipeline/builtin_stages.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::pipeline {

using net::Counter;

void DropStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  rte_mbuf* dead[kBurstSlots];
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    w_.count(b.meta[slot].drop);
    dead[k] = b.pkts[slot];
    b.to(slot, kNextDone);
  }
  rte_pktmbuf_free_bulk(dead, n);
}

void HandoffStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  Shared& s = w_.shared();
  uint64_t owners = 0;
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    s.meta(b.pkts[slot]).in_port = b.meta[slot].in_port;  // the owner needs it for ICMP errors
    owners |= uint64_t(1) << b.meta[slot].owner;
    b.to(slot, kNextDone);
  }
  // One enqueue per destination core: gather its packets (a burst rarely names many cores).
  for (; owners; owners &= owners - 1) {
    const uint32_t dst = uint32_t(__builtin_ctzll(owners));
    rte_mbuf* pkts[kBurstSlots];
    uint32_t count = 0;
    for (uint32_t k = 0; k < n; ++k)
      if (b.meta[idx[k]].owner == dst) pkts[count++] = b.pkts[idx[k]];
    const unsigned sent =
        rte_ring_sp_enqueue_burst(s.handoff_ring(w_.id(), dst), reinterpret_cast<void**>(pkts), count, nullptr);
    w_.count(Counter::handoff_out, sent);
    if (sent < count) {
      w_.count(Counter::handoff_ring_full, count - sent);
      rte_pktmbuf_free_bulk(pkts + sent, count - sent);
    }
  }
}

void ArpStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  Shared& s = w_.shared();
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    rte_mbuf* m = b.pkts[slot];
    s.meta(m).in_port = b.meta[slot].in_port;
    b.to(slot, kNextDone);
    w_.to_arp_owner(m, ArpWork::kFrame);
  }
}

}  // namespace redline::pipeline
