// A session's endpoints as `show nat sessions` prints them, and its filters.
#include <gtest/gtest.h>

#include "stack/nat/session_view.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::nat {
namespace {

uint32_t ip(const char* s) { return net::to_be(net::Ipv4Addr::parse(s)->value); }
uint16_t port(uint16_t p) { return net::to_be(p); }
FiveTuple tuple(const char* src, uint16_t sp, const char* dst, uint16_t dp, uint8_t proto) {
  return {ip(src), ip(dst), port(sp), port(dp), proto, {0, 0, 0}};
}

// 10.0.1.5:4000 (inside) -> 198.51.100.9:80 (outside), seen outside as 203.0.113.7:41000.
void make_snat(Session& s) {
  s.stamp.protocol = wire::ipv4::kProtoTcp;
  s.stamp.flags = kInitiatorInside;
  s.header.key[0] = tuple("10.0.1.5", 4000, "198.51.100.9", 80, s.stamp.protocol);
  s.header.key[1] = tuple("198.51.100.9", 80, "203.0.113.7", 41000, s.stamp.protocol);
}

// 198.51.100.9:5555 (outside) -> 203.0.113.7:8080, forwarded to 10.0.1.5:80.
void make_dnat(Session& s) {
  s.stamp.protocol = wire::ipv4::kProtoUdp;
  s.header.key[0] = tuple("198.51.100.9", 5555, "203.0.113.7", 8080, s.stamp.protocol);
  s.header.key[1] = tuple("10.0.1.5", 80, "198.51.100.9", 5555, s.stamp.protocol);
}

TEST(NatSessionView, EndsOfAnSnatSession) {
  Session s;
  make_snat(s);
  const SessionEnds e = ends_of(s);
  EXPECT_EQ(e.inside, (EndpointBe{ip("10.0.1.5"), port(4000)}));
  EXPECT_EQ(e.remote, (EndpointBe{ip("198.51.100.9"), port(80)}));
  EXPECT_EQ(e.external, (EndpointBe{ip("203.0.113.7"), port(41000)}));
}

TEST(NatSessionView, EndsOfADnatSession) {
  Session s;
  make_dnat(s);
  const SessionEnds e = ends_of(s);
  EXPECT_EQ(e.inside, (EndpointBe{ip("10.0.1.5"), port(80)}));
  EXPECT_EQ(e.remote, (EndpointBe{ip("198.51.100.9"), port(5555)}));
  EXPECT_EQ(e.external, (EndpointBe{ip("203.0.113.7"), port(8080)}));
}

SessionFilter filter(const char* inside, const char* outside, const char* external, const char* proto) {
  SessionFilter f;
  std::string error;
  if (inside) f.inside = parse_endpoint_match(inside, &error);
  if (outside) f.remote = parse_endpoint_match(outside, &error);
  if (external) f.external = parse_endpoint_match(external, &error);
  if (proto) f.protocol = parse_protocol(proto, &error);
  EXPECT_EQ(error, "");
  return f;
}

TEST(NatSessionView, FiltersMatchEveryEndpointTheyName) {
  Session snat, dnat;  // (not copyable: a session holds its timer)
  make_snat(snat);
  make_dnat(dnat);
  EXPECT_TRUE(filter(nullptr, nullptr, nullptr, nullptr).matches(snat));
  EXPECT_TRUE(filter("10.0.1.5", nullptr, nullptr, nullptr).matches(snat));
  EXPECT_TRUE(filter("10.0.1.5", nullptr, nullptr, nullptr).matches(dnat));
  EXPECT_TRUE(filter("10.0.1.5:4000", nullptr, nullptr, nullptr).matches(snat));
  EXPECT_FALSE(filter("10.0.1.5:4000", nullptr, nullptr, nullptr).matches(dnat));
  EXPECT_FALSE(filter("10.0.1.6", nullptr, nullptr, nullptr).matches(snat));
  EXPECT_TRUE(filter(nullptr, "198.51.100.9:80", nullptr, nullptr).matches(snat));
  EXPECT_FALSE(filter(nullptr, "203.0.113.7", nullptr, nullptr).matches(snat));  // the NAT's own is not the remote
  EXPECT_TRUE(filter(nullptr, nullptr, "203.0.113.7:41000", nullptr).matches(snat));
  EXPECT_TRUE(filter(nullptr, nullptr, "203.0.113.7:8080", nullptr).matches(dnat));
  EXPECT_TRUE(filter(nullptr, nullptr, nullptr, "tcp").matches(snat));
  EXPECT_FALSE(filter(nullptr, nullptr, nullptr, "tcp").matches(dnat));
  EXPECT_TRUE(filter(nullptr, nullptr, nullptr, "17").matches(dnat));
  EXPECT_FALSE(filter("10.0.1.5", "198.51.100.9:81", nullptr, nullptr).matches(snat));  // every field must match
}

TEST(NatSessionView, BadFiltersSayWhatIsAccepted) {
  std::string error;
  EXPECT_FALSE(parse_endpoint_match("10.0.1", &error));
  EXPECT_NE(error.find("10.0.1.5:4000"), std::string::npos) << error;
  EXPECT_FALSE(parse_endpoint_match("10.0.1.5:70000", &error));
  EXPECT_NE(error.find("0-65535"), std::string::npos) << error;
  EXPECT_FALSE(parse_endpoint_match("10.0.1.5:", &error));
  EXPECT_FALSE(parse_endpoint_match("10.0.1.5:8x", &error));
  EXPECT_EQ(parse_protocol("sctp", &error), 0);
  EXPECT_NE(error.find("tcp, udp, icmp"), std::string::npos) << error;
  EXPECT_EQ(parse_protocol("0", &error), 0);
  EXPECT_EQ(parse_protocol("256", &error), 0);
  EXPECT_EQ(parse_protocol("icmp", &error), wire::ipv4::kProtoIcmp);
}

}  // namespace
}  // namespace redline::nat
