#include "stack/pipeline/impairment.hpp"

#include <rte_mbuf.h>

#include "stack/wire/ethernet.hpp"

namespace redline::pipeline {

using net::Counter;

Impairment::Impairment(const ImpairConfig& c, uint64_t seed, rte_mempool* pool, uint64_t tsc_hz)
    : c_(c),
      state_(seed ? seed : 0x9e3779b97f4a7c15ull),
      pool_(pool),
      delay_tsc_(uint64_t(c.delay_us) * tsc_hz / 1'000'000),
      jitter_tsc_(uint64_t(c.jitter_us) * tsc_hz / 1'000'000),
      gap_tsc_(uint64_t(c.reorder_gap_us) * tsc_hz / 1'000'000) {}

Impairment::~Impairment() {
  while (!held_.empty()) {
    rte_pktmbuf_free(held_.top().m);
    held_.pop();
  }
}

uint64_t Impairment::next() {
  // xorshift64*: fast, and the same sequence for the same seed on every machine.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545f4914f6cdd1dull;
}

double Impairment::uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }

void Impairment::corrupt(rte_mbuf* m) {
  // One bit flipped past the Ethernet header, so the frame still classifies and the damage is
  // for the IP and transport checksums to find (netem flips anywhere; a MAC or type flip only
  // tests the NIC's filter).
  const uint32_t len = rte_pktmbuf_data_len(m);
  if (len <= wire::eth::kHeaderLen) return;
  const uint32_t bit = uint32_t(next() % ((len - wire::eth::kHeaderLen) * 8));
  uint8_t* p = rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen + bit / 8);
  *p ^= uint8_t(1u << (bit % 8));
}

void Impairment::place(rte_mbuf* m, uint64_t now, rte_mbuf** out, uint32_t room, uint32_t* k, net::CounterSet& c) {
  uint64_t wait = delay_tsc_;
  if (jitter_tsc_) {
    // delay ± jitter, never below zero
    const uint64_t span = 2 * jitter_tsc_ + 1;
    const uint64_t r = next() % span;
    wait = wait + r >= jitter_tsc_ ? wait + r - jitter_tsc_ : 0;
  }
  if (c_.reorder > 0 && uniform() < c_.reorder) {
    wait += gap_tsc_;
    c.add(Counter::impair_reordered, 1);
  }
  if (wait == 0 && held_.empty() && *k < room) {
    out[(*k)++] = m;
    return;
  }
  if (held_.size() >= c_.queue) {
    c.add(Counter::impair_queue_full, 1);
    rte_pktmbuf_free(m);
    return;
  }
  if (wait) c.add(Counter::impair_delayed, 1);
  held_.push({now + wait, order_++, m});
}

uint32_t Impairment::pass(rte_mbuf** pkts, uint32_t n, uint64_t now, rte_mbuf** out, uint32_t room,
                          net::CounterSet& c) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (c_.loss > 0 && uniform() < c_.loss) {
      c.add(Counter::impair_dropped, 1);
      rte_pktmbuf_free(m);
      continue;
    }
    rte_mbuf* dup = nullptr;
    if (c_.duplicate > 0 && uniform() < c_.duplicate) {
      dup = rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX);
      c.add(dup ? Counter::impair_duplicated : Counter::mbuf_alloc_failed, 1);
    }
    if (c_.corrupt > 0 && uniform() < c_.corrupt) {
      corrupt(m);
      c.add(Counter::impair_corrupted, 1);
    }
    place(m, now, out, room, &k, c);
    if (dup) place(dup, now, out, room, &k, c);
  }
  // Held frames now due, in the order they are due.
  while (k < room && !held_.empty() && held_.top().due <= now) {
    out[k++] = held_.top().m;
    held_.pop();
  }
  return k;
}

}  // namespace redline::pipeline
