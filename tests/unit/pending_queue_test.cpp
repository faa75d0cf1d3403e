#include <gtest/gtest.h>

#include <functional>

#include "stack/arp/pending_queue.hpp"

using namespace redline;
using Queue = arp::PendingQueue<int>;

namespace {
const net::Ipv4Addr kHop = *net::Ipv4Addr::parse("10.0.0.9");
const net::Ipv4Addr kOther = *net::Ipv4Addr::parse("10.0.0.10");
constexpr uint64_t kRetry = 100;  // ticks

// Records what the queue asks its owner to do; `on_failed` may act on the queue.
struct Recorder : Queue::Events {
  int retries = 0;
  std::vector<int> failed_packets;
  std::function<void(int)> on_failed;
  void retry(net::Ipv4Addr, uint16_t) override { ++retries; }
  void failed(net::Ipv4Addr, uint16_t, std::deque<int>& packets) override {
    for (int p : packets) {
      failed_packets.push_back(p);
      if (on_failed) on_failed(p);
    }
  }
};

struct Fixture {
  timer::Wheel wheel{0};
  Recorder events;
  Queue q;
  Fixture(size_t max_neighbors, size_t per_neighbor, uint32_t retries)
      : q(max_neighbors, per_neighbor, {kRetry, retries}, wheel, events) {}
  void at(uint64_t tick) { wheel.advance(tick, timer::Wheel::kUnlimited); }
};
}  // namespace

TEST(PendingQueue, FirstPacketStartsResolutionOthersJoin) {
  Fixture f(4, 3, 3);
  EXPECT_EQ(f.q.enqueue(kHop, 1, 100), Queue::Result::kQueuedFirst);
  EXPECT_EQ(f.q.enqueue(kHop, 1, 101), Queue::Result::kQueued);
  EXPECT_EQ(f.q.enqueue(kHop, 1, 102), Queue::Result::kQueued);
  EXPECT_EQ(f.q.enqueue(kHop, 1, 103), Queue::Result::kQueueFull);
  EXPECT_EQ(f.q.packets(), 3u);
}

TEST(PendingQueue, ResolvedReleasesPacketsInOrderAndStopsTheTimer) {
  Fixture f(4, 8, 3);
  for (int i = 0; i < 5; ++i) f.q.enqueue(kHop, 0, i);
  std::vector<int> sent;
  f.q.resolved(kHop, [&](int p) { sent.push_back(p); });
  EXPECT_EQ(sent, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(f.q.neighbors(), 0u);
  EXPECT_EQ(f.q.packets(), 0u);
  EXPECT_EQ(f.wheel.size(), 0u);
  f.at(10 * kRetry);
  EXPECT_EQ(f.events.retries, 0);
}

TEST(PendingQueue, RetriesOnScheduleThenGivesUp) {
  Fixture f(4, 8, 3);
  f.q.enqueue(kHop, 2, 7);
  f.q.enqueue(kHop, 2, 8);
  f.at(kRetry - 1);
  EXPECT_EQ(f.events.retries, 0);
  f.at(kRetry);
  EXPECT_EQ(f.events.retries, 1);
  f.at(2 * kRetry);
  EXPECT_EQ(f.events.retries, 2);
  EXPECT_TRUE(f.events.failed_packets.empty());
  f.at(3 * kRetry);  // three requests sent and a full interval of silence
  EXPECT_EQ(f.events.retries, 2);
  EXPECT_EQ(f.events.failed_packets, (std::vector<int>{7, 8}));
  EXPECT_FALSE(f.q.resolving(kHop));
  EXPECT_EQ(f.wheel.size(), 0u);
}

TEST(PendingQueue, FailureMayEnqueueAgain) {
  // An ICMP error about a failed packet may itself need resolving: enqueue from inside `failed`.
  Fixture f(64, 8, 1);
  for (uint32_t i = 0; i < 20; ++i) f.q.enqueue(net::Ipv4Addr{0x0a000100u + i}, 0, int(i));
  f.events.on_failed = [&](int p) { f.q.enqueue(net::Ipv4Addr{0x0a000200u + uint32_t(p)}, 0, 100 + p); };
  f.at(kRetry);
  EXPECT_EQ(f.events.failed_packets.size(), 20u);
  EXPECT_EQ(f.q.neighbors(), 20u);  // the 20 new resolutions, none lost
  EXPECT_EQ(f.q.packets(), 20u);
}

TEST(PendingQueue, ManyUnresolvedAddressesCostOneTimerEach) {
  // A scan of unknown addresses: each resolution has its own timer, so a retry round touches
  // only the resolutions that are due, never every one.
  Fixture f(4096, 1, 3);
  for (uint32_t i = 0; i < 4096; ++i) f.q.enqueue(net::Ipv4Addr{0x0a010000u + i}, 0, int(i));
  EXPECT_EQ(f.wheel.size(), 4096u);
  EXPECT_EQ(f.wheel.advance(kRetry, 64), 64u);  // bounded work per call
  EXPECT_EQ(f.events.retries, 64);
}

TEST(PendingQueue, BoundsTheNumberOfResolutions) {
  Fixture f(1, 8, 3);
  EXPECT_EQ(f.q.enqueue(kHop, 0, 1), Queue::Result::kQueuedFirst);
  EXPECT_EQ(f.q.enqueue(kOther, 0, 2), Queue::Result::kTooManyNeighbors);
}

TEST(PendingQueue, DrainHandsBackEverything) {
  Fixture f(4, 8, 3);
  f.q.enqueue(kHop, 0, 1);
  f.q.enqueue(kOther, 0, 2);
  int dropped = 0;
  f.q.drain([&](int) { ++dropped; });
  EXPECT_EQ(dropped, 2);
  EXPECT_EQ(f.q.packets(), 0u);
  EXPECT_EQ(f.wheel.size(), 0u);
}
