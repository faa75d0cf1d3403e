// The outside port space: per-worker blocks, preservation, exhaustion, and the RSS steering
// that makes a reply land on the worker that chose the port.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "stack/endpoint/port_share.hpp"
#include "stack/net/types.hpp"
#include "stack/rss/port_steering.hpp"

using namespace redline;
using endpoint::PortRange;
using endpoint::PortShare;

namespace {
// Any free port will do when none is wanted.
const auto kAny = [](uint16_t) { return true; };
}  // namespace

TEST(NatPortShare, BlocksCoverTheRangeWithoutOverlap) {
  const PortRange range{1024, 65535};
  for (uint32_t workers : {1u, 2u, 3u, 4u, 7u}) {
    std::vector<PortShare> shares;
    for (uint32_t w = 0; w < workers; ++w) shares.emplace_back(range, w, workers);
    uint32_t total = 0;
    for (auto& s : shares) total += s.size();
    EXPECT_EQ(total, range.size());
    for (uint32_t p = range.low; p <= range.high; p += 97) {
      const uint32_t owner = PortShare::owner_of(range, workers, uint16_t(p));
      ASSERT_LT(owner, workers);
      for (uint32_t w = 0; w < workers; ++w) EXPECT_EQ(shares[w].contains(uint16_t(p)), w == owner) << p;
    }
  }
}

TEST(NatPortShare, PreservedPortTakenOnceThenRefused) {
  PortShare s({1024, 65535}, 0, 1);
  EXPECT_TRUE(s.take(40000, 7));
  EXPECT_EQ(s.mapping(40000), 7u);
  EXPECT_FALSE(s.take(40000, 8));
  s.release(40000);
  EXPECT_EQ(s.mapping(40000), PortShare::kNone);
  EXPECT_TRUE(s.take(40000, 9));
}

TEST(NatPortShare, PortOutsideTheBlockIsNotTaken) {
  PortShare s({1024, 65535}, 1, 4);  // the second quarter
  EXPECT_FALSE(s.take(1024, 1));
  EXPECT_FALSE(s.take(80, 1));
}

TEST(NatPortShare, ExhaustionRefusesAndReleaseMakesRoom) {
  PortShare s({40000, 40007}, 0, 1);
  std::set<uint16_t> got;
  bool wanted = false;
  for (uint32_t i = 0; i < 8; ++i) {
    auto p = s.pick(i, [](uint16_t) { return true; }, kAny, 64, &wanted);
    ASSERT_TRUE(p);
    got.insert(*p);
  }
  EXPECT_EQ(got.size(), 8u);
  EXPECT_EQ(s.in_use(), 8u);
  EXPECT_FALSE(s.pick(9, [](uint16_t) { return true; }, kAny, 64, &wanted));
  s.release(40003);
  auto p = s.pick(9, [](uint16_t) { return true; }, kAny, 64, &wanted);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, 40003);
}

TEST(NatPortShare, FallsBackToAnyFreePortWhenNoneIsWanted) {
  PortShare s({2000, 2100}, 0, 1);
  bool wanted = true;
  auto p = s.pick(1, [](uint16_t) { return false; }, kAny, 16, &wanted);
  ASSERT_TRUE(p);
  EXPECT_FALSE(wanted);
}

// A port block (nat.limits.port_block_size): picks stay inside the window, wanted first.
TEST(NatPortShare, PicksWithinAWindowOnly) {
  PortShare s({2000, 2999}, 0, 1);
  const PortRange block{2064, 2127};
  bool wanted = false;
  std::set<uint16_t> got;
  for (int i = 0; i < 64; ++i) {
    auto p = s.pick(1, [](uint16_t port) { return port % 2 == 1; }, kAny, 64, &wanted, &block);
    ASSERT_TRUE(p) << i;
    EXPECT_TRUE(block.contains(*p)) << *p;
    EXPECT_EQ(wanted, i < 32) << "the 32 odd ports first, then the even ones as fallbacks";
    got.insert(*p);
  }
  EXPECT_EQ(got.size(), 64u);
  EXPECT_FALSE(s.pick(1, [](uint16_t) { return true; }, kAny, 64, &wanted, &block)) << "the window is full";
  EXPECT_TRUE(s.pick(1, [](uint16_t) { return true; }, kAny, 64, &wanted)) << "the rest of the share is not";
  const PortRange outside{3000, 3100};
  EXPECT_FALSE(s.pick(1, [](uint16_t) { return true; }, kAny, 64, &wanted, &outside));
}

// The property the fast path rests on: for any remote and any worker count, the port a worker
// picks makes the reply's symmetric Toeplitz hash select that worker through the RETA.
TEST(NatSteering, ChosenPortsReplyLandsOnTheChoosingWorker) {
  const rss::Toeplitz toeplitz(rss::symmetric_key());
  std::mt19937 rng(42);
  for (uint32_t workers : {2u, 3u, 4u, 8u}) {
    for (uint32_t reta_size : {64u, 128u, 512u}) {
      const rss::RetaMirror reta(workers, reta_size);
      std::vector<PortShare> shares;
      for (uint32_t w = 0; w < workers; ++w) shares.emplace_back(PortRange{1024, 65535}, w, workers);
      for (int trial = 0; trial < 200; ++trial) {
        const uint32_t w = rng() % workers;
        net::FiveTuple reply{uint32_t(rng()), uint32_t(rng()), uint16_t(rng()), 0, uint8_t(trial % 2 ? 6 : 17), {0, 0, 0}};
        const rss::ReplySteering steer(toeplitz, reta, rss::HashFields{}, reply);
        bool wanted = false;
        auto port = shares[w].pick(1, [&](uint16_t p) { return steer.owner(net::to_be(p)) == w; }, kAny, 64, &wanted);
        ASSERT_TRUE(port);
        ASSERT_TRUE(wanted) << "workers " << workers << " reta " << reta_size;
        // Check against the plain hash of the whole reply tuple, as the NIC computes it.
        reply.dst_port = net::to_be(*port);
        uint8_t input[rss::kMaxHashInput];
        const size_t len = rss::tuple_hash_input(reply, rss::HashFields{}, input);
        EXPECT_EQ(reta.owner(toeplitz.hash(input, len)), w);
        // Symmetric: the outbound packet (the tuple reversed) hashes to the same worker.
        net::FiveTuple out{reply.dst_ip, reply.src_ip, reply.dst_port, reply.src_port, reply.protocol, {0, 0, 0}};
        rss::tuple_hash_input(out, rss::HashFields{}, input);
        EXPECT_EQ(reta.owner(toeplitz.hash(input, len)), w);
      }
    }
  }
}

TEST(NatSteering, PortsNotHashedMeansEveryPortReachesOneWorker) {
  const rss::Toeplitz toeplitz(rss::symmetric_key());
  const rss::RetaMirror reta(4, 128);
  rss::HashFields addresses_only{false, false};
  const rss::ReplySteering steer(toeplitz, reta, addresses_only, {0x01020304, 0x05060708, 1, 0, 17, {0, 0, 0}});
  EXPECT_FALSE(steer.port_matters());
  const uint32_t first = steer.owner(net::to_be(uint16_t(1024)));
  for (uint32_t p = 1025; p < 2000; ++p) EXPECT_EQ(steer.owner(net::to_be(uint16_t(p))), first);
}
