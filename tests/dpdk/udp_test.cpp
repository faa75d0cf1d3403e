// The UDP stage in a real worker on ring ports, the test as host A: echo from a bound port,
// the checks that drop bad datagrams, and port unreachable for ports nobody bound.
#include <gtest/gtest.h>

#include "tests/dpdk/tcp_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

namespace {
const Frame kData = {'e', 'c', 'h', 'o', ' ', 'm', 'e', '!', 0, 1, 2};
Frame datagram(uint16_t dport) { return udp_bytes(addr("10.0.1.2"), addr("10.0.1.1"), 5555, dport, kData); }
}  // namespace

TEST(Udp, DatagramToTheEchoPortComesBackSwappedWithAValidChecksum) {
  TcpRig t;
  t.inject(from_host_a(datagram(kEchoPort), 17));
  auto out = t.exchange();
  ASSERT_EQ(out.size(), 1u);
  auto o = read_out(out[0]);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->proto, 17);
  EXPECT_EQ(o->src, addr("10.0.1.1"));
  EXPECT_EQ(o->dst, addr("10.0.1.2"));
  EXPECT_EQ(wire::udp::src_port(o->l4.data()), kEchoPort);
  EXPECT_EQ(wire::udp::dst_port(o->l4.data()), 5555);
  EXPECT_NE(wire::load16(o->l4.data(), wire::udp::kChecksum), 0) << "a checksum, not 'none'";
  EXPECT_TRUE(o->checksums_ok);
  EXPECT_EQ(o->payload, kData);
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostA);
  EXPECT_EQ(t.counter(Counter::udp_delivered), 1u);
  EXPECT_EQ(t.counter(Counter::udp_sent), 1u);
}

// RFC 1122 §4.1.3.4: a datagram whose checksum fails is discarded silently.
TEST(Udp, DatagramWithABadChecksumIsCountedAndNotEchoed) {
  TcpRig t;
  Frame u = datagram(kEchoPort);
  u[wire::udp::kHeaderLen + 2] ^= 0x20;  // a payload bit flipped on the way
  t.inject(from_host_a(u, 17));
  EXPECT_TRUE(t.exchange().empty());
  EXPECT_EQ(t.counter(Counter::udp_bad_checksum), 1u);
  EXPECT_EQ(t.counter(Counter::udp_delivered), 0u);
}

// RFC 768: the length covers header and data; one beyond the IP payload is a lie.
TEST(Udp, LengthFieldBeyondTheIpPayloadIsCountedAsTruncated) {
  TcpRig t;
  for (uint16_t len : {uint16_t(kData.size() + 9), uint16_t(7), uint16_t(0xffff)}) {
    Frame u = datagram(kEchoPort);
    wire::store16(u.data(), wire::udp::kLength, len);
    t.inject(from_host_a(u, 17));
  }
  Frame stub = datagram(kEchoPort);
  stub.resize(6);  // not even a header
  t.inject(from_host_a(stub, 17));
  EXPECT_TRUE(t.exchange().empty());
  EXPECT_EQ(t.counter(Counter::udp_truncated), 4u);
  EXPECT_EQ(t.counter(Counter::udp_delivered), 0u);
}

// RFC 1122 §4.1.3.1: port unreachable, quoting the datagram's IP header and first 8 bytes.
TEST(Udp, DatagramToAnUnboundPortGetsPortUnreachable) {
  TcpRig t;
  t.inject(from_host_a(datagram(9999), 17));
  auto out = t.exchange();
  ASSERT_EQ(out.size(), 1u);
  auto o = read_out(out[0]);
  ASSERT_TRUE(o);
  ASSERT_EQ(o->proto, 1);
  EXPECT_TRUE(o->checksums_ok);
  EXPECT_EQ(o->dst, addr("10.0.1.2"));
  EXPECT_EQ(o->l4[0], wire::icmp::kDestUnreachable);
  EXPECT_EQ(o->l4[1], 3) << "port unreachable";
  const uint8_t* quoted = o->l4.data() + 8;
  EXPECT_EQ(wire::ipv4::dst(quoted), addr("10.0.1.1"));
  EXPECT_EQ(wire::udp::dst_port(quoted + 20), 9999);
  EXPECT_EQ(t.counter(Counter::udp_no_listener), 1u);
}

// RFC 1122 §4.1.3.4: a datagram whose checksum fails is discarded silently, whatever its port:
// a corrupted one must not draw a port unreachable about a port it may never have named.
TEST(Udp, DatagramWithABadChecksumToAnUnboundPortIsDroppedWithoutAnError) {
  TcpRig t;
  Frame u = datagram(9999);
  u[wire::udp::kHeaderLen] ^= 0x01;
  t.inject(from_host_a(u, 17));
  EXPECT_TRUE(t.exchange().empty());
  EXPECT_EQ(t.counter(Counter::udp_bad_checksum), 1u);
  EXPECT_EQ(t.counter(Counter::udp_no_listener), 0u);
  EXPECT_EQ(t.counter(Counter::icmp_errors_sent), 0u);
}
