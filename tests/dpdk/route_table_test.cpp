#include <gtest/gtest.h>

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "stack/ip/route_table.hpp"

using namespace redline;
using ip::NextHop;
using ip::RouteTable;

namespace {
net::Ipv4Addr addr(const char* s) { return *net::Ipv4Addr::parse(s); }
net::Ipv4Prefix prefix(const char* s) { return *net::Ipv4Prefix::parse(s); }
}  // namespace

TEST(RouteTable, LongestPrefixWins) {
  std::string error;
  auto t = RouteTable::create("rt_longest", 64, 0, &error);
  ASSERT_TRUE(t) << error;
  ASSERT_TRUE(t->add(prefix("0.0.0.0/0"), {NextHop::Kind::kForward, 0, addr("10.0.0.254")}, &error));
  ASSERT_TRUE(t->add(prefix("10.1.0.0/16"), {NextHop::Kind::kForward, 1, addr("10.0.1.254")}, &error));
  ASSERT_TRUE(t->add(prefix("10.1.2.0/24"), {NextHop::Kind::kForward, 2, {}}, &error));
  ASSERT_TRUE(t->add(prefix("10.1.2.1/32"), {NextHop::Kind::kLocal, 2, {}}, &error));
  EXPECT_EQ(t->hop(t->lookup(addr("8.8.8.8"))).port, 0);
  EXPECT_EQ(t->hop(t->lookup(addr("10.1.9.9"))).port, 1);
  EXPECT_EQ(t->hop(t->lookup(addr("10.1.2.9"))).port, 2);
  EXPECT_EQ(t->hop(t->lookup(addr("10.1.2.1"))).kind, NextHop::Kind::kLocal);
}

TEST(RouteTable, MissWithoutDefaultRoute) {
  std::string error;
  auto t = RouteTable::create("rt_miss", 64, 0, &error);
  ASSERT_TRUE(t->add(prefix("10.1.0.0/16"), {NextHop::Kind::kForward, 1, {}}, &error));
  EXPECT_EQ(t->lookup(addr("10.2.0.1")), RouteTable::kNoRoute);
}

TEST(RouteTable, LookupFourMatchesSingleLookups) {
  std::string error;
  auto t = RouteTable::create("rt_x4", 64, 0, &error);
  ASSERT_TRUE(t->add(prefix("10.1.0.0/16"), {NextHop::Kind::kForward, 1, {}}, &error));
  ASSERT_TRUE(t->add(prefix("10.1.128.0/17"), {NextHop::Kind::kForward, 2, {}}, &error));
  net::Ipv4Addr dst[4] = {addr("10.1.0.1"), addr("10.1.200.1"), addr("11.0.0.1"), addr("10.1.127.255")};
  uint32_t out[4];
  t->lookup4(dst, out);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], t->lookup(dst[i])) << i;
  EXPECT_EQ(out[2], RouteTable::kNoRoute);
}

TEST(RouteTable, SameNextHopIsStoredOnce) {
  std::string error;
  auto t = RouteTable::create("rt_dedupe", 64, 0, &error);
  NextHop h{NextHop::Kind::kForward, 1, addr("10.0.0.1")};
  ASSERT_TRUE(t->add(prefix("10.1.0.0/16"), h, &error));
  ASSERT_TRUE(t->add(prefix("10.2.0.0/16"), h, &error));
  EXPECT_EQ(t->hop_count(), 1u);
}

TEST(RouteTable, RemovingAMoreSpecificRoute_FallsBackToTheCoveringOne) {
  std::string error;
  auto t = RouteTable::create("rt_remove", 64, 0, &error);
  ASSERT_TRUE(t->add(prefix("10.1.0.0/16"), {NextHop::Kind::kForward, 1, {}}, &error));
  ASSERT_TRUE(t->add(prefix("10.1.2.0/24"), {NextHop::Kind::kForward, 2, {}}, &error));
  EXPECT_EQ(t->hop(t->lookup(addr("10.1.2.3"))).port, 2);
  EXPECT_TRUE(t->remove(prefix("10.1.2.0/24")));
  EXPECT_EQ(t->hop(t->lookup(addr("10.1.2.3"))).port, 1);
  EXPECT_FALSE(t->remove(prefix("10.1.2.0/24"))) << "already gone";
  EXPECT_EQ(t->routes().size(), 1u);
}

TEST(RouteTable, DefaultRouteCanBeAddedAndRemoved) {
  std::string error;
  auto t = RouteTable::create("rt_default", 64, 0, &error);
  ASSERT_TRUE(t->add(prefix("0.0.0.0/0"), {NextHop::Kind::kForward, 3, addr("10.0.0.1")}, &error));
  EXPECT_EQ(t->hop(t->lookup(addr("8.8.8.8"))).port, 3);
  EXPECT_TRUE(t->remove(prefix("0.0.0.0/0")));
  EXPECT_EQ(t->lookup(addr("8.8.8.8")), RouteTable::kNoRoute);
}

TEST(RouteTable, LookupsRunWhileAnotherThreadAddsAndRemovesRoutes) {
  // The writer flips a /24 inside a /16 while a reader looks up addresses in both: every answer
  // is one of the two routes, never a miss or a stray index (QSBR reclaims freed tbl8 groups).
  std::string error;
  rte_rcu_qsbr* q = static_cast<rte_rcu_qsbr*>(rte_zmalloc("rt_qsbr", rte_rcu_qsbr_get_memsize(1), 64));
  ASSERT_EQ(rte_rcu_qsbr_init(q, 1), 0);
  auto t = RouteTable::create("rt_concurrent", 64, 0, &error, q);
  ASSERT_TRUE(t) << error;
  ASSERT_TRUE(t->add(prefix("10.1.0.0/16"), {NextHop::Kind::kForward, 1, {}}, &error));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, lookups{0};
  std::thread reader([&] {
    rte_rcu_qsbr_thread_register(q, 0);
    rte_rcu_qsbr_thread_online(q, 0);
    while (!stop.load(std::memory_order_relaxed)) {
      for (uint32_t host = 0; host < 256; ++host) {
        uint32_t i = t->lookup(net::Ipv4Addr{addr("10.1.7.0").value + host});
        if (i == RouteTable::kNoRoute || i >= t->hop_count() || (t->hop(i).port != 1 && t->hop(i).port != 2)) ++bad;
        ++lookups;
      }
      rte_rcu_qsbr_quiescent(q, 0);
    }
    rte_rcu_qsbr_thread_offline(q, 0);
    rte_rcu_qsbr_thread_unregister(q, 0);
  });
  // Until the reader has seen many flips (bounded in time: 5 s at most).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (int i = 0; (i < 2000 || lookups < 200'000) && std::chrono::steady_clock::now() < deadline; ++i) {
    ASSERT_TRUE(t->add(prefix("10.1.7.0/25"), {NextHop::Kind::kForward, 2, {}}, &error)) << error << " at " << i;
    ASSERT_TRUE(t->remove(prefix("10.1.7.0/25")));
    // A freed tbl8 group returns only after the reader has passed a quiescent state: a writer
    // this much faster than its reader would run out of groups, so it waits now and then (the
    // control thread's route changes are far slower than workers' once-a-loop reports).
    if (i % 64 == 63) rte_rcu_qsbr_synchronize(q, RTE_QSBR_THRID_INVALID);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(lookups.load(), 0u);
  t.reset();
  rte_free(q);
}

TEST(RouteTable, EcmpRoute_EachHashOnOnePathEveryPathUsed) {
  std::string error;
  auto t = RouteTable::create("rt_ecmp", 64, 0, &error);
  ASSERT_TRUE(t) << error;
  const std::vector<NextHop> paths = {{NextHop::Kind::kForward, 1, addr("10.0.1.2")},
                                      {NextHop::Kind::kForward, 1, addr("10.0.1.3")},
                                      {NextHop::Kind::kForward, 2, addr("10.0.2.2")}};
  ASSERT_TRUE(t->add(prefix("10.9.0.0/16"), paths, &error)) << error;
  const uint32_t index = t->lookup(addr("10.9.1.1"));
  ASSERT_NE(index, RouteTable::kNoRoute);
  EXPECT_EQ(t->hop(index).paths, 3);
  int used[3] = {0, 0, 0};
  for (uint32_t hash = 0; hash < 300; ++hash) {
    const NextHop& h = t->path(index, hash);
    EXPECT_EQ(&h, &t->path(index, hash)) << "a flow's hash always gives the same path";
    for (int p = 0; p < 3; ++p) used[p] += h.gateway == paths[size_t(p)].gateway;
  }
  EXPECT_EQ(used[0], 100);
  EXPECT_EQ(used[1], 100);
  EXPECT_EQ(used[2], 100);
  ASSERT_EQ(t->routes().size(), 1u);
  EXPECT_EQ(t->routes()[0].hops.size(), 3u);
  // A single-path route by one of the paths reuses that entry; the group is found again when
  // the route is re-added: no new entries.
  const size_t entries = t->hop_count();
  ASSERT_TRUE(t->add(prefix("10.8.0.0/16"), paths[1], &error));
  ASSERT_TRUE(t->add(prefix("10.9.0.0/16"), paths, &error));
  EXPECT_EQ(t->hop_count(), entries);
  EXPECT_EQ(t->path(t->lookup(addr("10.8.0.1")), 7).gateway, addr("10.0.1.3"));
  // Back to one path: every hash takes it.
  ASSERT_TRUE(t->add(prefix("10.9.0.0/16"), paths[2], &error));
  for (uint32_t hash = 0; hash < 10; ++hash) EXPECT_EQ(t->path(t->lookup(addr("10.9.1.1")), hash).gateway, addr("10.0.2.2"));
}

TEST(RouteTable, EcmpRoute_OfTooManyOrNoPaths_IsRefused) {
  std::string error;
  auto t = RouteTable::create("rt_ecmp_bad", 64, 0, &error);
  ASSERT_TRUE(t) << error;
  EXPECT_FALSE(t->add(prefix("10.9.0.0/16"), std::vector<NextHop>{}, &error));
  EXPECT_FALSE(t->add(prefix("10.9.0.0/16"), std::vector<NextHop>(RouteTable::kMaxPaths + 1, NextHop{}), &error));
  EXPECT_NE(error.find("1 to 16"), std::string::npos) << error;
}
