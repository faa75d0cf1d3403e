#include <gtest/gtest.h>

#include "golden.hpp"
#include "stack/icmp/error.hpp"
#include "stack/wire/icmp.hpp"

using namespace redline;

namespace {
struct Parsed {
  std::vector<uint8_t> bytes;
  wire::ipv4::Repr ip;
  explicit Parsed(std::vector<uint8_t> b) : bytes(std::move(b)), ip(*wire::ipv4::parse(bytes.data(), bytes.size(), false).repr) {}
  icmp::Offender offender() const { return {&ip, bytes.data(), false, false}; }
};
}  // namespace

TEST(IcmpError, TimeExceededMatchesScapy) {
  Parsed p(golden::kEchoRequest);
  uint8_t out[600];
  size_t len = icmp::build_error(out, sizeof out, p.offender(), {wire::icmp::kTimeExceeded, 0, 0},
                                 *net::Ipv4Addr::parse("10.0.0.254"), 7);
  EXPECT_EQ(std::vector<uint8_t>(out, out + len), golden::kTimeExceeded);
}

TEST(IcmpError, QuotesAtMost576BytesInAll) {
  std::vector<uint8_t> big(1500, 0xab);
  wire::ipv4::Repr r;
  r.total_len = 1500;
  r.ttl = 1;
  r.protocol = wire::ipv4::kProtoUdp;
  r.src = *net::Ipv4Addr::parse("10.0.0.1");
  r.dst = *net::Ipv4Addr::parse("10.0.9.9");
  wire::ipv4::write(big.data(), r);
  Parsed p(big);
  uint8_t out[1600];
  size_t len = icmp::build_error(out, sizeof out, p.offender(), {3, 1, 0}, *net::Ipv4Addr::parse("10.0.0.254"), 1);
  EXPECT_EQ(len, 576u);
  EXPECT_TRUE(wire::checksum_ok(out + 20, len - 20));
  EXPECT_TRUE(wire::checksum_ok(out, 20));
}

TEST(IcmpError, NeverAboutAnIcmpError) {
  Parsed p(golden::kTimeExceeded);
  EXPECT_FALSE(icmp::error_allowed(p.offender()));
  Parsed echo(golden::kEchoRequest);
  EXPECT_TRUE(icmp::error_allowed(echo.offender()));
}

TEST(IcmpError, NeverForBroadcastsNonInitialFragmentsOrBadSources) {
  Parsed p(golden::kEchoRequest);
  auto o = p.offender();
  o.link_broadcast = true;
  EXPECT_FALSE(icmp::error_allowed(o));
  o = p.offender();
  o.dst_is_broadcast = true;
  EXPECT_FALSE(icmp::error_allowed(o));
  Parsed frag(golden::kEchoRequest);
  frag.ip.flags_fragment = 10;  // offset 80 bytes
  EXPECT_FALSE(icmp::error_allowed(frag.offender()));
  for (const char* src : {"0.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1", "240.0.0.1"}) {
    Parsed bad(golden::kEchoRequest);
    bad.ip.src = *net::Ipv4Addr::parse(src);
    EXPECT_FALSE(icmp::error_allowed(bad.offender())) << src;
  }
}
