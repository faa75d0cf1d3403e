#include <gtest/gtest.h>

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
