// The impairment stage on real mbufs: each kind of damage does what it says, is counted, is the
// same for the same seed, and leaks nothing (held frames freed with the stage).
#include "stack/pipeline/impairment.hpp"

#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <vector>

using redline::net::Counter;
using redline::net::CounterSet;
using redline::pipeline::ImpairConfig;
using redline::pipeline::Impairment;

namespace {

constexpr uint64_t kHz = 1'000'000'000;  // the stage's clock in these tests: TSC ticks are ns

rte_mempool* pool() {
  static rte_mempool* p = rte_pktmbuf_pool_create("impair_pool", 8192, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  return p;
}

// `n` 100-byte frames, frame i filled with byte i (its identity).
std::vector<rte_mbuf*> frames(uint32_t n) {
  std::vector<rte_mbuf*> v(n);
  for (uint32_t i = 0; i < n; ++i) {
    v[i] = rte_pktmbuf_alloc(pool());
    std::memset(rte_pktmbuf_append(v[i], 100), int(i & 0xff), 100);
  }
  return v;
}

uint8_t id(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, uint8_t*, 50)[0]; }

void free_all(std::vector<rte_mbuf*>& v) {
  for (rte_mbuf* m : v) rte_pktmbuf_free(m);
  v.clear();
}

struct Stage {
  explicit Stage(const ImpairConfig& c, uint64_t seed = 7) : im(c, seed, pool(), kHz), in_use(rte_mempool_in_use_count(pool())) {}
  std::vector<rte_mbuf*> pass(std::vector<rte_mbuf*> in, uint64_t now) {
    std::vector<rte_mbuf*> out(in.size() * 2 + 1024);
    out.resize(im.pass(in.data(), uint32_t(in.size()), now, out.data(), uint32_t(out.size()), counters));
    return out;
  }
  Impairment im;
  CounterSet counters;
  unsigned in_use;
};

TEST(Impairment, LossAtOneHundredPercent_PassesNothingAndCountsEach) {
  ImpairConfig c;
  c.loss = 1;
  Stage r(c);
  auto out = r.pass(frames(32), 0);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(r.counters.get(Counter::impair_dropped), 32u);
  EXPECT_EQ(rte_mempool_in_use_count(pool()), r.in_use);
}

TEST(Impairment, SeededLoss_IsNearItsRateAndTheSameForTheSameSeed) {
  ImpairConfig c;
  c.loss = 0.1;
  std::vector<uint8_t> kept[2];
  for (int k = 0; k < 2; ++k) {
    Stage r(c, 42);
    for (int round = 0; round < 100; ++round) {
      auto out = r.pass(frames(100), 0);
      for (rte_mbuf* m : out) kept[k].push_back(id(m));
      free_all(out);
    }
    EXPECT_GT(r.counters.get(Counter::impair_dropped), 800u);
    EXPECT_LT(r.counters.get(Counter::impair_dropped), 1200u);
  }
  EXPECT_EQ(kept[0], kept[1]) << "the same seed, the same frames lost";
  Stage other(c, 43);
  std::vector<uint8_t> third;
  for (int round = 0; round < 100; ++round) {
    auto out = other.pass(frames(100), 0);
    for (rte_mbuf* m : out) third.push_back(id(m));
    free_all(out);
  }
  EXPECT_NE(kept[0], third) << "another seed, other choices";
}

TEST(Impairment, Delay_HoldsFramesUntilDueThenPassesThemInOrder) {
  ImpairConfig c;
  c.delay_us = 2000;
  Stage r(c);
  EXPECT_TRUE(r.pass(frames(10), 0).empty());
  EXPECT_EQ(r.im.held(), 10u);
  EXPECT_TRUE(r.pass({}, 1'999'999).empty());
  auto out = r.pass({}, 2'000'000);
  ASSERT_EQ(out.size(), 10u);
  for (uint32_t i = 0; i < 10; ++i) EXPECT_EQ(id(out[i]), i);
  EXPECT_EQ(r.counters.get(Counter::impair_delayed), 10u);
  free_all(out);
}

TEST(Impairment, Jitter_StaysWithinDelayPlusOrMinusJitter) {
  ImpairConfig c;
  c.delay_us = 20'000;
  c.jitter_us = 10'000;
  Stage r(c);
  EXPECT_TRUE(r.pass(frames(200), 0).empty());
  EXPECT_TRUE(r.pass({}, 9'999'999).empty());
  auto early = r.pass({}, 20'000'000);
  EXPECT_GT(early.size(), 0u);
  EXPECT_LT(early.size(), 200u);
  auto rest = r.pass({}, 30'000'000);
  EXPECT_EQ(early.size() + rest.size(), 200u);
  free_all(early);
  free_all(rest);
}

TEST(Impairment, Reorder_LaterFramesOvertakeTheHeldOnes) {
  ImpairConfig c;
  c.reorder = 0.25;
  c.reorder_gap_us = 1000;
  Stage r(c);
  auto now = r.pass(frames(100), 0);
  EXPECT_GT(now.size(), 50u);
  EXPECT_LT(now.size(), 100u);
  auto later = r.pass({}, 1'000'000);
  EXPECT_EQ(now.size() + later.size(), 100u);
  EXPECT_EQ(r.counters.get(Counter::impair_reordered), later.size());
  EXPECT_GT(id(now.back()), id(later.front())) << "a frame sent after a held one arrived before it";
  free_all(now);
  free_all(later);
}

TEST(Impairment, Duplicate_SendsACopyBesideEachFrame) {
  ImpairConfig c;
  c.duplicate = 1;
  Stage r(c);
  auto out = r.pass(frames(16), 0);
  ASSERT_EQ(out.size(), 32u);
  for (uint32_t i = 0; i < 32; i += 2) {
    EXPECT_NE(out[i], out[i + 1]);
    EXPECT_EQ(0, std::memcmp(rte_pktmbuf_mtod(out[i], void*), rte_pktmbuf_mtod(out[i + 1], void*), 100));
  }
  EXPECT_EQ(r.counters.get(Counter::impair_duplicated), 16u);
  free_all(out);
  EXPECT_EQ(rte_mempool_in_use_count(pool()), r.in_use);
}

TEST(Impairment, Corrupt_FlipsExactlyOneBitPastTheEthernetHeader) {
  ImpairConfig c;
  c.corrupt = 1;
  Stage r(c);
  auto out = r.pass(frames(50), 0);
  ASSERT_EQ(out.size(), 50u);
  for (uint32_t i = 0; i < 50; ++i) {
    const uint8_t* p = rte_pktmbuf_mtod(out[i], const uint8_t*);
    int bits = 0;
    for (int b = 0; b < 100; ++b) {
      bits += __builtin_popcount(p[b] ^ uint8_t(i));
      if (b < 14) EXPECT_EQ(p[b], uint8_t(i));
    }
    EXPECT_EQ(bits, 1);
  }
  free_all(out);
}

TEST(Impairment, FullQueue_DropsAndCounts_AndHeldFramesGoWithTheStage) {
  const unsigned before = rte_mempool_in_use_count(pool());
  {
    ImpairConfig c;
    c.delay_us = 1000;
    c.queue = 8;
    Stage r(c);
    EXPECT_TRUE(r.pass(frames(20), 0).empty());
    EXPECT_EQ(r.im.held(), 8u);
    EXPECT_EQ(r.counters.get(Counter::impair_queue_full), 12u);
  }
  EXPECT_EQ(rte_mempool_in_use_count(pool()), before) << "the stage freed what it held";
}

}  // namespace
