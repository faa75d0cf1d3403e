#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "stack/timer/timer_wheel.hpp"

using redline::timer::Timer;
using redline::timer::Wheel;

namespace {

constexpr size_t kAll = Wheel::kUnlimited;

struct Fired {
  size_t id;
  uint64_t expires;
  uint64_t at;  // the wheel's now() when the callback ran
};

// A wheel, the timers it runs and the record of what fired. The time is whatever the test passes
// to advance(): the fake clock. Nodes are declared before the wheel so the wheel, destroyed
// first, unlinks any still pending.
struct Harness {
  struct Node {
    Timer timer;
    size_t id = 0;
    Harness* h = nullptr;
  };

  explicit Harness(size_t n, uint64_t start = 0) : nodes(new Node[n]), wheel(start) {
    for (size_t i = 0; i < n; ++i) {
      nodes[i].id = i;
      nodes[i].h = this;
      nodes[i].timer.set_callback(&Harness::record, &nodes[i]);
    }
  }

  static void record(Timer& t, void* ctx) {
    auto* node = static_cast<Node*>(ctx);
    node->h->log.push_back({node->id, t.expires(), node->h->wheel.now()});
    if (node->h->on_fire) node->h->on_fire(*node->h, node->id);
  }

  Timer& operator[](size_t i) { return nodes[i].timer; }
  size_t count(size_t id) const {
    auto is = [&](const Fired& f) { return f.id == id; };
    return size_t(std::count_if(log.begin(), log.end(), is));
  }

  std::unique_ptr<Node[]> nodes;
  Wheel wheel;
  std::vector<Fired> log;
  void (*on_fire)(Harness&, size_t id) = nullptr;  // what a test's callback does besides record
};

}  // namespace

TEST(TimerWheel, Expiry_HappensAtTheExactTickNotBeforeNotAfter) {
  Harness h(1);
  h.wheel.schedule(h[0], 10);
  EXPECT_EQ(h.wheel.advance(9, kAll), 0u);
  EXPECT_TRUE(h.wheel.pending(h[0]));
  EXPECT_EQ(h.wheel.advance(10, kAll), 1u);
  ASSERT_EQ(h.log.size(), 1u);
  EXPECT_EQ(h.log[0].at, 10u);
  EXPECT_FALSE(h.wheel.pending(h[0]));
  EXPECT_EQ(h.wheel.advance(11, kAll), 0u);
  EXPECT_EQ(h.wheel.now(), 11u);
}

TEST(TimerWheel, PastOrCurrentTick_FiresOnTheNextAdvanceWithoutTimePassing) {
  Harness h(3, 100);
  h.wheel.schedule(h[0], 50);   // in the past
  h.wheel.schedule(h[1], 100);  // the current tick
  h.wheel.schedule(h[2], 101);
  EXPECT_EQ(h.wheel.advance(100, kAll), 2u);
  EXPECT_EQ(h.log[0].id, 0u);
  EXPECT_EQ(h.log[1].id, 1u);
  EXPECT_EQ(h.log[1].at, 100u);
  EXPECT_EQ(h.wheel.advance(101, kAll), 1u);
}

TEST(TimerWheel, Cancel_PreventsExpiry) {
  Harness h(2);
  h.wheel.schedule(h[0], 5);
  h.wheel.schedule(h[1], 5);
  EXPECT_TRUE(h.wheel.cancel(h[0]));
  EXPECT_FALSE(h.wheel.pending(h[0]));
  h.wheel.advance(100, kAll);
  ASSERT_EQ(h.log.size(), 1u);
  EXPECT_EQ(h.log[0].id, 1u);
}

TEST(TimerWheel, Cancel_AfterFiringIsANoOp) {
  Harness h(1);
  h.wheel.schedule(h[0], 3);
  h.wheel.advance(3, kAll);
  EXPECT_FALSE(h.wheel.cancel(h[0]));
  EXPECT_FALSE(h.wheel.cancel(h[0]));
  EXPECT_EQ(h.wheel.size(), 0u);
}

TEST(TimerWheel, Cancel_OfADueTimerLeftByTheBudgetPreventsExpiry) {
  Harness h(3);
  for (size_t i = 0; i < 3; ++i) h.wheel.schedule(h[i], 7);
  EXPECT_EQ(h.wheel.advance(7, 1), 1u);
  EXPECT_TRUE(h.wheel.cancel(h[2]));
  EXPECT_EQ(h.wheel.advance(7, kAll), 1u);
  EXPECT_EQ(h.count(2), 0u);
  EXPECT_EQ(h.wheel.size(), 0u);
}

TEST(TimerWheel, Rearm_MovesThePendingTimerLaterOrEarlier) {
  Harness h(2);
  h.wheel.schedule(h[0], 10);
  h.wheel.schedule(h[0], 20);  // later
  h.wheel.schedule(h[1], 70'000);
  h.wheel.schedule(h[1], 5);  // earlier, from level 2 to level 0
  EXPECT_EQ(h.wheel.size(), 2u);
  EXPECT_EQ(h.wheel.advance(19, kAll), 1u);
  EXPECT_EQ(h.log[0].id, 1u);
  EXPECT_EQ(h.log[0].at, 5u);
  EXPECT_EQ(h.wheel.advance(20, kAll), 1u);
  EXPECT_EQ(h.log[1].id, 0u);
  EXPECT_EQ(h.log[1].at, 20u);
  h.wheel.advance(100'000, kAll);
  EXPECT_EQ(h.log.size(), 2u);
}

TEST(TimerWheel, SameTick_FiresInTheOrderScheduled) {
  Harness h(4);
  for (size_t i : {2u, 0u, 3u, 1u}) h.wheel.schedule(h[i], 1000);  // level 1, cascaded to level 0
  h.wheel.advance(1000, kAll);
  ASSERT_EQ(h.log.size(), 4u);
  EXPECT_EQ(h.log[0].id, 2u);
  EXPECT_EQ(h.log[1].id, 0u);
  EXPECT_EQ(h.log[2].id, 3u);
  EXPECT_EQ(h.log[3].id, 1u);
}

// Expiries log-uniform over 2^34 ticks (every level, and past the 2^32 range). The clock steps to
// one tick before each distinct expiry, then onto it: seen tick by tick, everything fires in the
// tick it becomes due, once, in the order of a sorted reference.
TEST(TimerWheel, RandomTimersOnEveryLevel_FireOnceInTheirTickInSortedOrder) {
  constexpr size_t kN = 100'000;
  Harness h(kN);
  std::mt19937_64 rng(20240611);
  std::vector<uint64_t> reference;
  for (size_t i = 0; i < kN; ++i) {
    uint64_t e = 1 + (rng() & ((uint64_t{1} << (rng() % 35)) - 1));
    h.wheel.schedule(h[i], e);
    reference.push_back(e);
  }
  std::sort(reference.begin(), reference.end());
  for (size_t i = 0; i < kN;) {
    uint64_t e = reference[i];
    h.wheel.advance(e - 1, kAll);
    ASSERT_EQ(h.log.size(), i) << "early, before tick " << e;
    h.wheel.advance(e, kAll);
    while (i < kN && reference[i] == e) ++i;
    ASSERT_EQ(h.log.size(), i) << "late, at tick " << e;
  }
  std::vector<size_t> times(kN, 0);
  for (size_t k = 0; k < kN; ++k) {
    EXPECT_EQ(h.log[k].expires, reference[k]);
    EXPECT_EQ(h.log[k].at, h.log[k].expires);
    ++times[h.log[k].id];
  }
  EXPECT_EQ(std::count(times.begin(), times.end(), 1), ptrdiff_t(kN));
  EXPECT_EQ(h.wheel.size(), 0u);
}

// One tick at a time with scheduling, re-arming and cancelling in between, against a reference set.
TEST(TimerWheel, RandomScheduleCancelRearm_MatchesAReferenceTickByTick) {
  constexpr size_t kN = 5'000;
  constexpr uint64_t kTicks = 300'000;
  Harness h(kN);
  std::set<std::pair<uint64_t, size_t>> model;  // (expires, id) of pending timers
  std::mt19937_64 rng(7);
  for (uint64_t now = 0; now < kTicks; ++now) {
    for (int op = 0; op < 2; ++op) {
      size_t id = rng() % kN;
      Timer& t = h[id];
      if (t.pending()) model.erase({t.expires(), id});
      if (rng() % 4 == 0) {
        h.wheel.cancel(t);
      } else {
        uint64_t e = now + 1 + (rng() & ((uint64_t{1} << (rng() % 19)) - 1));
        h.wheel.schedule(t, e);
        model.insert({e, id});
      }
    }
    size_t before = h.log.size();
    h.wheel.advance(now + 1, kAll);
    for (size_t k = before; k < h.log.size(); ++k) {
      ASSERT_EQ(h.log[k].expires, now + 1);
      ASSERT_EQ(model.erase({h.log[k].expires, h.log[k].id}), 1u);
    }
    ASSERT_TRUE(model.empty() || model.begin()->first > now + 1) << "missed at " << now + 1;
    ASSERT_EQ(h.wheel.size(), model.size());
  }
}

// Starting just before a 2^32 boundary, so every level's slot index wraps on the way.
TEST(TimerWheel, FarTimers_FireOnTimeAcrossTheWrapOfEveryLevelAndBeyondTheRange) {
  const uint64_t start = 5 * Wheel::kRange - 3;
  const std::vector<uint64_t> offsets = {
      1, 2, 3, 4, 255, 256, 257,                           // level 0 and its wrap
      65'535, 65'536, 65'537,                              // level 1's wrap
      1 << 24, (1 << 24) + 1, 5 << 24,                     // level 2's wrap, level 3
      (1ull << 32) - 1, 1ull << 32, (1ull << 32) + 1,      // the edge of the range
      (1ull << 32) + 12'345'678, 3ull << 33, 1ull << 40};  // beyond it: clamped, re-filed
  Harness h(offsets.size(), start);
  for (size_t i = 0; i < offsets.size(); ++i) h.wheel.schedule(h[i], start + offsets[i]);
  std::vector<uint64_t> sorted = offsets;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    uint64_t e = start + sorted[i];
    h.wheel.advance(e - 1, kAll);
    ASSERT_EQ(h.log.size(), i) << "fired before offset " << sorted[i];
    h.wheel.advance(e, kAll);
    ASSERT_EQ(h.log.size(), i + 1) << "not fired at offset " << sorted[i];
    EXPECT_EQ(h.log[i].at, e);
  }
}

TEST(TimerWheel, ExpiryBudget_FiresAtMostThatManyPerCallAndResumes) {
  constexpr size_t kN = 1000;
  Harness h(kN);
  for (size_t i = 0; i < kN; ++i) h.wheel.schedule(h[i], 40);
  size_t calls = 0;
  for (size_t left = kN; left > 0; ++calls) {
    size_t fired = h.wheel.advance(40, 32);
    ASSERT_EQ(fired, std::min<size_t>(32, left));
    left -= fired;
    EXPECT_EQ(h.wheel.size(), left);  // due but not yet fired still counts
  }
  EXPECT_EQ(calls, 32u);  // 31 x 32 + 8
  EXPECT_EQ(h.wheel.advance(40, 32), 0u);
  for (size_t i = 0; i < kN; ++i) ASSERT_EQ(h.count(i), 1u);
}

TEST(TimerWheel, ExpiryBudget_LeftoverStillFiresBeforeLaterTicks) {
  Harness h(4);
  h.wheel.schedule(h[0], 5);
  h.wheel.schedule(h[1], 5);
  h.wheel.schedule(h[2], 6);
  h.wheel.schedule(h[3], 1'000'000);
  EXPECT_EQ(h.wheel.advance(2'000'000, 1), 1u);
  EXPECT_EQ(h.wheel.now(), 5u);  // stopped at the tick whose timers are still due
  EXPECT_EQ(h.wheel.advance(2'000'000, 2), 2u);
  EXPECT_EQ(h.wheel.advance(2'000'000, 2), 1u);
  ASSERT_EQ(h.log.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(h.log[i].id, i);
  EXPECT_EQ(h.log[3].at, 1'000'000u);
}

TEST(TimerWheel, MoveBudget_SpreadsAnOuterSlotsRefilingOverCallsWithoutLoss) {
  constexpr size_t kN = 10'000;
  Harness h(kN);
  for (size_t i = 0; i < kN; ++i) h.wheel.schedule(h[i], 70'000 + i % 3);  // one level-2 slot
  size_t calls = 0;
  while (h.log.size() < kN) {
    ASSERT_LT(++calls, 100u);
    h.wheel.advance(80'000, kAll, 1000);
  }
  EXPECT_GE(calls, 20u);  // each timer re-filed twice (level 2 to 1, 1 to 0): 20 000 moves
  for (size_t k = 0; k < kN; ++k) ASSERT_GE(h.log[k].at, h.log[k].expires);
  for (size_t k = 1; k < kN; ++k) ASSERT_LE(h.log[k - 1].expires, h.log[k].expires);
  std::vector<size_t> times(kN, 0);
  for (const Fired& f : h.log) ++times[f.id];
  EXPECT_EQ(std::count(times.begin(), times.end(), 1), ptrdiff_t(kN));
}

TEST(TimerWheel, Callback_ReschedulingItselfMakesAPeriodicTimer) {
  Harness h(1);
  h.on_fire = [](Harness& hh, size_t id) { hh.wheel.schedule(hh[id], hh[id].expires() + 7); };
  h.wheel.schedule(h[0], 7);
  for (uint64_t now = 1; now <= 100; ++now) h.wheel.advance(now, kAll);
  ASSERT_EQ(h.log.size(), 14u);
  for (size_t k = 0; k < 14; ++k) EXPECT_EQ(h.log[k].at, 7 * (k + 1));
  EXPECT_TRUE(h.wheel.pending(h[0]));
  EXPECT_EQ(h.wheel.size(), 1u);
}

TEST(TimerWheel, Callback_CancellingAnotherDueTimerInTheSameTickStopsIt) {
  Harness h(3);
  h.on_fire = [](Harness& hh, size_t id) {
    if (id == 0) hh.wheel.cancel(hh[1]);
  };
  h.wheel.schedule(h[0], 300);
  h.wheel.schedule(h[1], 300);
  h.wheel.schedule(h[2], 300);
  EXPECT_EQ(h.wheel.advance(300, kAll), 2u);
  EXPECT_EQ(h.count(0), 1u);
  EXPECT_EQ(h.count(1), 0u);
  EXPECT_EQ(h.count(2), 1u);
  EXPECT_EQ(h.wheel.size(), 0u);
}

TEST(TimerWheel, Callback_SchedulingForTheCurrentTickFiresInTheSameCall) {
  Harness h(2);
  h.on_fire = [](Harness& hh, size_t id) {
    if (id == 0) hh.wheel.schedule(hh[1], hh.wheel.now());
  };
  h.wheel.schedule(h[0], 9);
  EXPECT_EQ(h.wheel.advance(9, kAll), 2u);
  EXPECT_EQ(h.log[1].id, 1u);
  EXPECT_EQ(h.log[1].at, 9u);
}

TEST(TimerWheel, Callback_RearmingAnotherDueTimerLaterDefersIt) {
  Harness h(2);
  h.on_fire = [](Harness& hh, size_t id) {
    if (id == 0) hh.wheel.schedule(hh[1], 50);
  };
  h.wheel.schedule(h[0], 9);
  h.wheel.schedule(h[1], 9);
  EXPECT_EQ(h.wheel.advance(49, kAll), 1u);
  EXPECT_EQ(h.wheel.advance(50, kAll), 1u);
  EXPECT_EQ(h.log[1].at, 50u);
}

TEST(TimerWheel, LargeJump_FiresEverythingInOrderAtTheirTicks) {
  Harness h(5);
  const uint64_t ticks[] = {1'000'000'000, 1, 70'000, 300, 20'000'000};
  for (size_t i = 0; i < 5; ++i) h.wheel.schedule(h[i], ticks[i]);
  EXPECT_EQ(h.wheel.advance(1'000'000'000, kAll), 5u);
  std::vector<uint64_t> at;
  for (const Fired& f : h.log) {
    EXPECT_EQ(f.at, f.expires);
    at.push_back(f.at);
  }
  EXPECT_TRUE(std::is_sorted(at.begin(), at.end()));
  EXPECT_EQ(h.wheel.now(), 1'000'000'000u);
}

// 10^12 ticks of idle time in 1000 calls: this finishes only if empty ticks are skipped, not walked.
TEST(TimerWheel, LargeJump_SkipsIdleTimeWithoutWalkingIt) {
  Harness h(1);
  const uint64_t far = 1'000'000'000'000;
  h.wheel.schedule(h[0], far);
  for (uint64_t now = 1'000'000'000; now < far; now += 1'000'000'000) {
    ASSERT_EQ(h.wheel.advance(now, kAll), 0u);
  }
  EXPECT_EQ(h.wheel.advance(far, kAll), 1u);
  EXPECT_EQ(h.log[0].at, far);
}

TEST(TimerWheel, Size_CountsPendingTimersThroughEveryTransition) {
  Harness h(3);
  EXPECT_EQ(h.wheel.size(), 0u);
  h.wheel.schedule(h[0], 10);
  h.wheel.schedule(h[1], 1 << 20);
  h.wheel.schedule(h[2], 10);
  EXPECT_EQ(h.wheel.size(), 3u);
  h.wheel.schedule(h[1], 20);  // re-arm: still one timer
  EXPECT_EQ(h.wheel.size(), 3u);
  h.wheel.cancel(h[2]);
  h.wheel.cancel(h[2]);
  EXPECT_EQ(h.wheel.size(), 2u);
  h.wheel.advance(10, kAll);
  EXPECT_EQ(h.wheel.size(), 1u);
  h.wheel.advance(20, kAll);
  EXPECT_EQ(h.wheel.size(), 0u);
}

TEST(TimerWheel, NextExpiry_IsALowerBoundThatLeadsToEachTimer) {
  Harness h(3);
  EXPECT_EQ(h.wheel.next_expiry(), Wheel::kNever);
  h.wheel.schedule(h[0], 100);
  EXPECT_EQ(h.wheel.next_expiry(), 100u);  // within 256 ticks: exact
  h.wheel.schedule(h[1], 50);
  EXPECT_EQ(h.wheel.next_expiry(), 50u);
  h.wheel.cancel(h[1]);  // its slot is empty again: the hint moves back
  EXPECT_EQ(h.wheel.next_expiry(), 100u);
  h.wheel.schedule(h[1], 5'000'000);
  h.wheel.schedule(h[2], (1ull << 32) + 99);
  // A loop that sleeps until the hint and then advances lands on every expiry exactly.
  while (h.wheel.size() > 0) {
    uint64_t hint = h.wheel.next_expiry();
    ASSERT_GT(hint, h.wheel.now());
    h.wheel.advance(hint, kAll);
  }
  ASSERT_EQ(h.log.size(), 3u);
  for (const Fired& f : h.log) EXPECT_EQ(f.at, f.expires);
}

TEST(TimerWheel, Clear_ForgetsEveryTimerWithoutFiring) {
  Harness h(3);
  h.wheel.schedule(h[0], 1);
  h.wheel.schedule(h[1], 1);
  h.wheel.schedule(h[2], 1 << 30);
  h.wheel.advance(1, 1);  // leaves one due
  h.wheel.clear();
  EXPECT_EQ(h.wheel.size(), 0u);
  for (size_t i = 0; i < 3; ++i) EXPECT_FALSE(h.wheel.pending(h[i]));
  EXPECT_EQ(h.wheel.advance(1ull << 31, kAll), 0u);
  EXPECT_EQ(h.wheel.next_expiry(), Wheel::kNever);
}
