// Which of the kernel side's routes redline takes ([ip] learn_routes).
#include <gtest/gtest.h>

#include "dpdk_app/learned_routes.hpp"

namespace redline::app {
namespace {

Config two_ports() {
  Config c;
  PortConfig a;
  a.name = "a";
  a.address = *net::Ipv4Prefix::parse("10.77.1.1/24");
  a.kernel = KernelConfig{"rl-a-k", {"tcp:179"}};
  PortConfig b;
  b.name = "b";
  b.address = *net::Ipv4Prefix::parse("10.77.2.1/24");
  b.kernel = KernelConfig{"rl-b-k", {"tcp:179"}};
  c.ports = {a, b};
  c.routes.push_back({*net::Ipv4Prefix::parse("10.77.3.0/24"), {*net::Ipv4Addr::parse("10.77.2.2")}});
  return c;
}

KernelRoute bird(const char* prefix, std::vector<KernelRoute::Hop> hops) {
  return {*net::Ipv4Prefix::parse(prefix), 12, std::move(hops)};
}

net::Ipv4Addr ip(const char* s) { return *net::Ipv4Addr::parse(s); }

TEST(LearnedRoutes, BirdRouteByAKernelPath_IsTakenWithItsPort) {
  const LearnDecision d = learn_route(two_ports(), bird("10.77.60.0/24", {{"rl-b-k", ip("10.77.2.2")}}));
  ASSERT_EQ(d.hops.size(), 1u) << d.ignored;
  EXPECT_EQ(d.hops[0].port, 1);
  EXPECT_EQ(d.hops[0].gateway, ip("10.77.2.2"));
}

TEST(LearnedRoutes, MultipathRoute_IsAnEcmpRouteAcrossPorts) {
  const LearnDecision d =
      learn_route(two_ports(), bird("0.0.0.0/0", {{"rl-a-k", ip("10.77.1.9")}, {"rl-b-k", ip("10.77.2.9")}}));
  ASSERT_EQ(d.hops.size(), 2u) << d.ignored;
  EXPECT_EQ(d.hops[0].port, 0);
  EXPECT_EQ(d.hops[1].port, 1);
}

TEST(LearnedRoutes, WhatRedlineRoutesItselfOrCannotUse_IsNotTaken) {
  const Config c = two_ports();
  struct Case {
    KernelRoute route;
    const char* why;
  } cases[] = {
      {{*net::Ipv4Prefix::parse("10.77.2.0/24"), 2, {{"rl-b-k", {}}}}, "kernel"},
      {{*net::Ipv4Prefix::parse("10.88.0.0/16"), kRedlineProtocol, {{"rl-b-k", ip("10.77.2.2")}}}, "never mirrored back"},
      {bird("10.77.3.0/24", {{"rl-b-k", ip("10.77.2.2")}}), "static route"},
      {bird("10.77.2.0/24", {{"rl-b-k", ip("10.77.2.2")}}), "connected"},
      {bird("10.77.60.0/24", {{"eth0", ip("10.77.2.2")}}), "not a kernel path"},
      {bird("10.77.60.0/24", {{"rl-a-k", ip("10.77.2.2")}}), "not on port a"},
      {bird("10.77.60.0/24", {}), "no next hop"},
  };
  for (const Case& k : cases) {
    const LearnDecision d = learn_route(c, k.route);
    EXPECT_TRUE(d.hops.empty()) << k.route.prefix.to_string();
    EXPECT_NE(d.ignored.find(k.why), std::string::npos) << k.route.prefix.to_string() << ": " << d.ignored;
  }
}

TEST(LearnedRoutes, OnLinkRoute_HasNoGateway) {
  const LearnDecision d = learn_route(two_ports(), bird("10.77.70.0/24", {{"rl-b-k", {}}}));
  ASSERT_EQ(d.hops.size(), 1u) << d.ignored;
  EXPECT_TRUE(d.hops[0].gateway.is_unspecified());
}

}  // namespace
}  // namespace redline::app
