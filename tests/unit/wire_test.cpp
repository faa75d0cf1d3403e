#include <gtest/gtest.h>

#include "golden.hpp"
#include "stack/wire/arp.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"

using namespace redline;
using net::Ipv4Addr;
using net::MacAddr;

TEST(Ethernet, WritesGoldenHeader) {
  uint8_t frame[14];
  wire::eth::write(frame, MacAddr::broadcast(), *MacAddr::parse("02:00:00:00:00:01"), wire::eth::kTypeArp);
  EXPECT_EQ(std::vector<uint8_t>(frame, frame + 14), golden::kEthernetBroadcastArp);
  EXPECT_EQ(wire::eth::type(frame), wire::eth::kTypeArp);
}

TEST(Arp, ParsesGoldenRequest) {
  auto r = wire::arp::parse(golden::kArpRequest.data(), golden::kArpRequest.size());
  ASSERT_TRUE(r.repr);
  EXPECT_EQ(r.repr->operation, wire::arp::kOpRequest);
  EXPECT_EQ(r.repr->sender_mac.to_string(), "02:00:00:00:00:01");
  EXPECT_EQ(r.repr->sender_ip.to_string(), "10.0.0.1");
  EXPECT_EQ(r.repr->target_ip.to_string(), "10.0.0.2");
}

TEST(Arp, WriteRoundTripsToGoldenBytes) {
  auto r = wire::arp::parse(golden::kArpRequest.data(), golden::kArpRequest.size());
  uint8_t out[wire::arp::kLen];
  wire::arp::write(out, *r.repr);
  EXPECT_EQ(std::vector<uint8_t>(out, out + wire::arp::kLen), golden::kArpRequest);
}

TEST(Arp, RejectsWrongLengthsAndTypesByReason) {
  auto p = golden::kArpRequest;
  EXPECT_EQ(wire::arp::parse(p.data(), 27).error, wire::arp::ParseError::kTruncated);
  p[4] = 8;  // hardware length
  EXPECT_EQ(wire::arp::parse(p.data(), p.size()).error, wire::arp::ParseError::kBadHardware);
  p = golden::kArpRequest;
  p[5] = 16;  // protocol length
  EXPECT_EQ(wire::arp::parse(p.data(), p.size()).error, wire::arp::ParseError::kBadProtocol);
  p = golden::kArpRequest;
  p[7] = 9;  // operation
  EXPECT_EQ(wire::arp::parse(p.data(), p.size()).error, wire::arp::ParseError::kBadOperation);
}

TEST(Ipv4, ParsesGoldenHeader) {
  auto r = wire::ipv4::parse(golden::kEchoRequest.data(), golden::kEchoRequest.size());
  ASSERT_TRUE(r.repr);
  EXPECT_EQ(r.repr->header_len, 20);
  EXPECT_EQ(r.repr->total_len, 32);
  EXPECT_EQ(r.repr->ttl, 64);
  EXPECT_EQ(r.repr->protocol, wire::ipv4::kProtoIcmp);
  EXPECT_EQ(r.repr->src.to_string(), "10.0.0.1");
  EXPECT_FALSE(r.repr->is_fragment());
}

TEST(Ipv4, WriteReproducesGoldenHeader) {
  auto r = wire::ipv4::parse(golden::kEchoRequest.data(), golden::kEchoRequest.size());
  uint8_t out[20];
  wire::ipv4::write(out, *r.repr);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 20), std::vector<uint8_t>(golden::kEchoRequest.begin(), golden::kEchoRequest.begin() + 20));
}

TEST(Ipv4, RejectsEachMalformationWithItsReason) {
  using E = wire::ipv4::ParseError;
  auto p = golden::kEchoRequest;
  EXPECT_EQ(wire::ipv4::parse(p.data(), 19).error, E::kTruncated);
  p[0] = 0x65;
  EXPECT_EQ(wire::ipv4::parse(p.data(), p.size()).error, E::kBadVersion);
  p[0] = 0x44;  // IHL 4
  EXPECT_EQ(wire::ipv4::parse(p.data(), p.size()).error, E::kBadIhl);
  p[0] = 0x4f;  // IHL 15 = 60 bytes > 32 available
  EXPECT_EQ(wire::ipv4::parse(p.data(), p.size()).error, E::kTruncated);
  p = golden::kEchoRequest;
  wire::store16(p.data(), wire::ipv4::kTotalLength, 33);  // beyond the frame
  EXPECT_EQ(wire::ipv4::parse(p.data(), p.size(), false).error, E::kBadTotalLength);
  wire::store16(p.data(), wire::ipv4::kTotalLength, 19);  // below the header
  EXPECT_EQ(wire::ipv4::parse(p.data(), p.size(), false).error, E::kBadTotalLength);
  p = golden::kEchoRequest;
  p[11] ^= 1;
  EXPECT_EQ(wire::ipv4::parse(p.data(), p.size()).error, E::kBadChecksum);
  EXPECT_TRUE(wire::ipv4::parse(p.data(), p.size(), false).repr);  // NIC said good
}

TEST(Ipv4, AcceptsEthernetPaddingBeyondTotalLength) {
  auto p = golden::kEchoRequest;
  p.resize(46, 0);
  auto r = wire::ipv4::parse(p.data(), p.size());
  ASSERT_TRUE(r.repr);
  EXPECT_EQ(r.repr->total_len, 32);
}

TEST(Icmp, EchoRequestBecomesGoldenReply) {
  auto p = golden::kEchoRequest;
  wire::icmp::echo_request_to_reply(p.data() + 20);
  EXPECT_EQ(std::vector<uint8_t>(p.begin() + 20, p.end()), golden::kEchoReplyIcmp);
  EXPECT_TRUE(wire::checksum_ok(p.data() + 20, 12));
}
