#include <gtest/gtest.h>

#include "stack/arp/pending_queue.hpp"

using namespace redline;
using Queue = arp::PendingQueue<int>;

namespace {
const net::Ipv4Addr kHop = *net::Ipv4Addr::parse("10.0.0.9");
const net::Ipv4Addr kOther = *net::Ipv4Addr::parse("10.0.0.10");
constexpr uint64_t kSec = 1'000'000'000;
}  // namespace

TEST(PendingQueue, FirstPacketStartsResolutionOthersJoin) {
  Queue q(4, 3, {kSec, 3});
  EXPECT_EQ(q.enqueue(kHop, 1, 100, 0), Queue::Result::kQueuedFirst);
  EXPECT_EQ(q.enqueue(kHop, 1, 101, 0), Queue::Result::kQueued);
  EXPECT_EQ(q.enqueue(kHop, 1, 102, 0), Queue::Result::kQueued);
  EXPECT_EQ(q.enqueue(kHop, 1, 103, 0), Queue::Result::kQueueFull);
  EXPECT_EQ(q.packets(), 3u);
}

TEST(PendingQueue, ResolvedReleasesPacketsInOrder) {
  Queue q(4, 8, {kSec, 3});
  for (int i = 0; i < 5; ++i) q.enqueue(kHop, 0, i, 0);
  std::vector<int> sent;
  q.resolved(kHop, [&](int p) { sent.push_back(p); });
  EXPECT_EQ(sent, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(q.neighbors(), 0u);
  EXPECT_EQ(q.packets(), 0u);
}

TEST(PendingQueue, RetriesOnScheduleThenGivesUp) {
  Queue q(4, 8, {kSec, 3});
  q.enqueue(kHop, 2, 7, 0);
  q.enqueue(kHop, 2, 8, 0);
  int retries = 0;
  std::vector<int> failed;
  auto retry = [&](net::Ipv4Addr ip, uint16_t port) {
    EXPECT_EQ(ip, kHop);
    EXPECT_EQ(port, 2);
    ++retries;
  };
  auto fail = [&](int p) { failed.push_back(p); };
  q.tick(kSec / 2, retry, fail);
  EXPECT_EQ(retries, 0);
  q.tick(kSec, retry, fail);
  EXPECT_EQ(retries, 1);
  q.tick(2 * kSec, retry, fail);
  EXPECT_EQ(retries, 2);
  EXPECT_TRUE(failed.empty());
  q.tick(3 * kSec, retry, fail);  // three requests sent and a full interval of silence
  EXPECT_EQ(retries, 2);
  EXPECT_EQ(failed, (std::vector<int>{7, 8}));
  EXPECT_FALSE(q.resolving(kHop));
}

TEST(PendingQueue, FailureMayEnqueueAgainWithoutBreakingTheWalk) {
  // An ICMP error about a failed packet may itself need resolving: enqueue from inside `fail`.
  Queue q(64, 8, {kSec, 1});
  for (uint32_t i = 0; i < 20; ++i) q.enqueue(net::Ipv4Addr{0x0a000100u + i}, 0, int(i), 0);
  int failed = 0;
  q.tick(kSec, [](net::Ipv4Addr, uint16_t) {}, [&](int p) {
    ++failed;
    q.enqueue(net::Ipv4Addr{0x0a000200u + uint32_t(p)}, 0, 100 + p, kSec);
  });
  EXPECT_EQ(failed, 20);
  EXPECT_EQ(q.neighbors(), 20u);  // the 20 new resolutions, none lost or visited twice
  EXPECT_EQ(q.packets(), 20u);
}

TEST(PendingQueue, BoundsTheNumberOfResolutions) {
  Queue q(1, 8, {kSec, 3});
  EXPECT_EQ(q.enqueue(kHop, 0, 1, 0), Queue::Result::kQueuedFirst);
  EXPECT_EQ(q.enqueue(kOther, 0, 2, 0), Queue::Result::kTooManyNeighbors);
}

TEST(PendingQueue, DrainHandsBackEverything) {
  Queue q(4, 8, {kSec, 3});
  q.enqueue(kHop, 0, 1, 0);
  q.enqueue(kOther, 0, 2, 0);
  int dropped = 0;
  q.drain([&](int) { ++dropped; });
  EXPECT_EQ(dropped, 2);
  EXPECT_EQ(q.packets(), 0u);
}
