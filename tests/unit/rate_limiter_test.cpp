#include <gtest/gtest.h>

#include "stack/icmp/rate_limiter.hpp"

using redline::icmp::RateLimiter;

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
