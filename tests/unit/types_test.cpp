#include <gtest/gtest.h>

#include "stack/net/types.hpp"

using namespace redline::net;

TEST(Ipv4Addr, ParsesDottedQuadAndPrintsItBack) {
  auto a = Ipv4Addr::parse("10.77.1.254");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->value, 0x0a4d01feu);
  EXPECT_EQ(a->to_string(), "10.77.1.254");
}

TEST(Ipv4Addr, RejectsMalformedText) {
  for (const char* bad : {"", "10.0.0", "10.0.0.0.1", "256.0.0.1", "10..0.1", "a.b.c.d", "10.0.0.1 ", "-1.0.0.0"})
    EXPECT_FALSE(Ipv4Addr::parse(bad)) << bad;
}

TEST(Ipv4Prefix, ParsesLengthAndComputesNetworkAndBroadcast) {
  auto p = Ipv4Prefix::parse("10.77.1.1/24");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->length, 24);
  EXPECT_EQ(p->network().to_string(), "10.77.1.0");
  EXPECT_EQ(p->directed_broadcast().to_string(), "10.77.1.255");
  EXPECT_TRUE(p->contains(*Ipv4Addr::parse("10.77.1.200")));
  EXPECT_FALSE(p->contains(*Ipv4Addr::parse("10.77.2.1")));
  EXPECT_FALSE(Ipv4Prefix::parse("10.0.0.1/33"));
  EXPECT_EQ(Ipv4Prefix::parse("0.0.0.0/0")->mask(), 0u);
}

TEST(MacAddr, ParsesColonHexAndRejectsOtherForms) {
  auto m = MacAddr::parse("02:00:0a:FF:00:01");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->to_string(), "02:00:0a:ff:00:01");
  EXPECT_FALSE(MacAddr::parse("02-00-0a-ff-00-01"));
  EXPECT_FALSE(MacAddr::parse("02:00:0a:ff:00"));
  EXPECT_TRUE(MacAddr::broadcast().is_broadcast());
  EXPECT_TRUE(MacAddr::parse("01:00:5e:00:00:01")->is_multicast());
}

TEST(Be16, KeepsNetworkOrder) {
  Be16 v = Be16::from_host(0x1234);
  uint8_t bytes[2];
  std::memcpy(bytes, &v.raw, 2);
  EXPECT_EQ(bytes[0], 0x12);
  EXPECT_EQ(v.host(), 0x1234);
}
