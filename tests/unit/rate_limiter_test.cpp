#include <gtest/gtest.h>

#include "stack/net/rate_limiter.hpp"

using redline::net::RateLimiter;

TEST(RateLimiter, AllowsTheBurstThenRefillsAtTheRate) {
  RateLimiter r(100, 10);  // 100/s: one token per 10 ms
  uint64_t t = 1'000'000'000;
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += r.allow(t);
  EXPECT_EQ(allowed, 10);
  EXPECT_FALSE(r.allow(t + 5'000'000));
  EXPECT_TRUE(r.allow(t + 10'000'000));
  EXPECT_FALSE(r.allow(t + 10'000'000));
  allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += r.allow(t + 2'000'000'000ull);
  EXPECT_EQ(allowed, 10);  // never more than the burst, however long the pause
}

TEST(RateLimiter, SlowTrickleAccumulatesFractions) {
  RateLimiter r(100, 1);
  uint64_t t = 1'000'000'000;
  EXPECT_TRUE(r.allow(t));
  int allowed = 0;
  for (int ms = 1; ms <= 1000; ++ms) allowed += r.allow(t + uint64_t(ms) * 1'000'000);
  EXPECT_GE(allowed, 99);
  EXPECT_LE(allowed, 100);
}

TEST(RateLimiter, ZeroRateDisablesErrors) {
  RateLimiter r(0, 50);
  EXPECT_FALSE(r.allow(1));
  EXPECT_FALSE(r.allow(10'000'000'000ull));
}

TEST(RateLimiter, LongRunRateMatchesTheConfiguredRate) {
  RateLimiter r(300, 1);  // a token every 3.33 ms: calls every 2 ms must not lose the fractions
  uint64_t t = 1'000'000'000;
  int allowed = 0;
  for (int i = 1; i <= 5000; ++i) allowed += r.allow(t + uint64_t(i) * 2'000'000);  // 10 s
  EXPECT_GE(allowed, 2990);
  EXPECT_LE(allowed, 3001);
}

// Before the fix, elapsed * rate wrapped past 2^64: at 1'000'000/s a gap of 18'446'744'073'710 ns
// (about 5.1 hours) wrapped to under one token, and the bucket stayed empty after the pause.
TEST(RateLimiter, LongIdleGapAtHighRate_RefillsToBurstWithoutOverflow) {
  constexpr uint64_t kHour = 3600ull * 1'000'000'000;
  constexpr uint64_t kWrapGap = 18'446'744'073'710;  // ceil(2^64 / 1e6)
  for (uint32_t burst : {1u, 50u, 1'000'000u}) {
    RateLimiter r(1'000'000, burst);
    uint64_t t = 1'000'000'000;
    while (r.allow(t)) {}  // empty the bucket
    for (uint64_t gap : {kWrapGap, 6 * kHour, 2 * kWrapGap, 1'000'000 * kHour}) {
      t += gap;
      uint32_t allowed = 0;
      while (allowed <= burst && r.allow(t)) ++allowed;
      EXPECT_EQ(allowed, burst) << "burst " << burst << " gap " << gap;
    }
  }
}

TEST(RateLimiter, IdleFromZeroToClockNear2Pow63_RefillsToBurstWithoutOverflow) {
  // 2^63 * 1'000'000 is 0 modulo 2^64: the old arithmetic earned nothing over that gap.
  for (uint64_t now : {uint64_t(1) << 63, (uint64_t(1) << 63) + 12345, (uint64_t(1) << 63) - 1, ~uint64_t(0)}) {
    RateLimiter r(1'000'000, 10);
    uint32_t allowed = 0;
    while (allowed <= 10 && r.allow(0)) ++allowed;  // the bucket's clock starts at 0
    ASSERT_EQ(allowed, 10u);
    allowed = 0;
    while (allowed <= 10 && r.allow(now)) ++allowed;
    EXPECT_EQ(allowed, 10u) << now;
  }
}

TEST(RateLimiter, HighRateNearClockTop_KeepsFractions) {
  // 1'000'000/s: one token per microsecond; calls every 0.75 us just below 2^63 must not lose
  // the fractions (3 tokens per 4 calls).
  RateLimiter r(1'000'000, 1);
  uint64_t t = (uint64_t(1) << 63) - 1'000'000'000;
  EXPECT_TRUE(r.allow(t));
  int allowed = 0;
  for (int i = 1; i <= 20'000; ++i) allowed += r.allow(t + uint64_t(i) * 750);  // 15 ms
  EXPECT_GE(allowed, 14'990);
  EXPECT_LE(allowed, 15'001);
}
