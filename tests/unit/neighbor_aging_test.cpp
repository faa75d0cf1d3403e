#include <gtest/gtest.h>

#include "stack/arp/neighbor_aging.hpp"

using namespace redline;

namespace {
const net::Ipv4Addr kHop = *net::Ipv4Addr::parse("10.0.0.2");

struct Recorder : arp::NeighborAging::Events {
  int probes = 0;
  std::vector<net::Ipv4Addr> expired_ips;
  void probe(net::Ipv4Addr, uint16_t) override { ++probes; }
  void expired(net::Ipv4Addr ip) override { expired_ips.push_back(ip); }
};

struct Fixture {
  timer::Wheel wheel{0};
  Recorder events;
  arp::NeighborAging aging{wheel, {1000, 100, 2, 300}, events};  // reachable, interval, probes, hold
  void at(uint64_t tick) { wheel.advance(tick, timer::Wheel::kUnlimited); }
};
}  // namespace

TEST(NeighborAging, StaleEntryIsProbedThenRemoved) {
  Fixture f;
  f.aging.confirmed(kHop, 0);
  f.at(999);
  EXPECT_EQ(f.events.probes, 0);
  f.at(1000);
  EXPECT_EQ(f.events.probes, 1);
  f.at(1100);
  EXPECT_EQ(f.events.probes, 2);
  EXPECT_TRUE(f.events.expired_ips.empty());
  f.at(1200);
  ASSERT_EQ(f.events.expired_ips.size(), 1u);
  EXPECT_EQ(f.events.expired_ips[0], kHop);
  EXPECT_EQ(f.aging.size(), 0u);
}

TEST(NeighborAging, AnswerDuringRefreshKeepsTheEntry) {
  Fixture f;
  f.aging.confirmed(kHop, 0);
  f.at(1000);
  EXPECT_EQ(f.events.probes, 1);
  f.aging.confirmed(kHop, 0);  // the probe was answered
  f.at(1999);
  EXPECT_EQ(f.events.probes, 1);
  EXPECT_TRUE(f.events.expired_ips.empty());
}

TEST(NeighborAging, FailedNextHopIsForgottenAfterTheHold) {
  Fixture f;
  f.aging.failed(kHop, 0);
  f.at(299);
  EXPECT_TRUE(f.events.expired_ips.empty());
  f.at(300);
  EXPECT_EQ(f.events.expired_ips.size(), 1u);
  EXPECT_EQ(f.events.probes, 0);
}

TEST(NeighborAging, TableLearnedAtOnceComesDueInBoundedSteps) {
  Fixture f;
  for (uint32_t i = 0; i < 4096; ++i) f.aging.confirmed(net::Ipv4Addr{0x0a000000u + i}, 0);
  size_t calls = 0;
  while (f.events.probes < 4096 && calls < 1000) {
    EXPECT_LE(f.wheel.advance(1000, 64), 64u);
    ++calls;
  }
  EXPECT_EQ(f.events.probes, 4096);
  EXPECT_EQ(calls, 4096u / 64);
}
