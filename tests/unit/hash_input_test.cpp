// What the RSS hash covers (stack/rss/hash_input.hpp): addresses always, TCP/UDP ports only for
// unfragmented segments and only when the ports' NICs hash them.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "stack/rss/hash_input.hpp"
#include "stack/rss/toeplitz.hpp"

using namespace redline::rss;

namespace {
// An IPv4 header of `ihl` bytes (options are NOPs) followed by `l4` bytes whose first four are
// the ports 0x1234 -> 0x5678. Source 10.0.0.1, destination 192.168.1.2.
std::vector<uint8_t> packet(uint8_t proto, uint16_t flags_fragment = 0, size_t ihl = 20, size_t l4 = 8) {
  std::vector<uint8_t> p(ihl + l4, 0x01);
  p[0] = uint8_t(0x40 | (ihl / 4));
  p[6] = uint8_t(flags_fragment >> 8);
  p[7] = uint8_t(flags_fragment);
  p[9] = proto;
  const uint8_t addrs[8] = {10, 0, 0, 1, 192, 168, 1, 2};
  std::copy(addrs, addrs + 8, p.begin() + 12);
  const uint8_t ports[4] = {0x12, 0x34, 0x56, 0x78};
  for (size_t i = 0; i < 4 && i < l4; ++i) p[ihl + i] = ports[i];
  return p;
}

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kGre = 47;
constexpr uint16_t kDf = 0x4000, kMf = 0x2000;
const std::array<uint8_t, 12> kWithPorts = {10, 0, 0, 1, 192, 168, 1, 2, 0x12, 0x34, 0x56, 0x78};

size_t input_of(const std::vector<uint8_t>& p, HashFields f, std::array<uint8_t, kMaxHashInput>& out) {
  out.fill(0xee);
  return hash_input(p.data(), p.size(), f, out.data());
}
}  // namespace

TEST(HashInput, UnfragmentedTcpAndUdp_HashAddressesAndPorts) {
  std::array<uint8_t, kMaxHashInput> in;
  for (uint8_t proto : {kTcp, kUdp}) {
    ASSERT_EQ(input_of(packet(proto), HashFields{}, in), kPortsInputLen);
    EXPECT_EQ(in, kWithPorts);
  }
}

TEST(HashInput, DontFragmentFlag_StillHashesPorts) {
  std::array<uint8_t, kMaxHashInput> in;
  EXPECT_EQ(input_of(packet(kTcp, kDf), HashFields{}, in), kPortsInputLen);
}

TEST(HashInput, TcpPortsOff_TcpHashesAddressesOnlyAndUdpKeepsPorts) {
  std::array<uint8_t, kMaxHashInput> in;
  HashFields f{.tcp_ports = false, .udp_ports = true};
  ASSERT_EQ(input_of(packet(kTcp), f, in), kAddressInputLen);
  EXPECT_TRUE(std::equal(in.begin(), in.begin() + 8, kWithPorts.begin()));
  EXPECT_EQ(input_of(packet(kUdp), f, in), kPortsInputLen);
}

TEST(HashInput, UdpPortsOff_UdpHashesAddressesOnlyAndTcpKeepsPorts) {
  std::array<uint8_t, kMaxHashInput> in;
  HashFields f{.tcp_ports = true, .udp_ports = false};
  EXPECT_EQ(input_of(packet(kUdp), f, in), kAddressInputLen);
  EXPECT_EQ(input_of(packet(kTcp), f, in), kPortsInputLen);
}

TEST(HashInput, FirstAndLaterFragments_HashAddressesOnly) {
  // RFC 791 §3.2: a later fragment has no L4 header; the first must agree with it.
  std::array<uint8_t, kMaxHashInput> in;
  for (uint16_t ff : {uint16_t(kMf), uint16_t(kMf | 185), uint16_t(185), uint16_t(kDf | 1)})
    for (uint8_t proto : {kTcp, kUdp}) {
      ASSERT_EQ(input_of(packet(proto, ff), HashFields{}, in), kAddressInputLen) << ff;
      EXPECT_TRUE(std::equal(in.begin(), in.begin() + 8, kWithPorts.begin()));
    }
}

TEST(HashInput, OtherProtocols_HashAddressesOnly) {
  std::array<uint8_t, kMaxHashInput> in;
  for (uint8_t proto : {kIcmp, kGre, uint8_t(132) /* SCTP: ports never hashed by us */})
    EXPECT_EQ(input_of(packet(proto), HashFields{}, in), kAddressInputLen) << int(proto);
}

TEST(HashInput, HeaderWithOptions_PortsReadAfterTheOptions) {
  std::array<uint8_t, kMaxHashInput> in;
  for (size_t ihl : {24u, 40u, 60u}) {
    ASSERT_EQ(input_of(packet(kTcp, 0, ihl), HashFields{}, in), kPortsInputLen) << ihl;
    EXPECT_EQ(in, kWithPorts) << ihl;
  }
}

TEST(HashInput, PortsBeyondTheBuffer_HashAddressesOnly) {
  std::array<uint8_t, kMaxHashInput> in;
  EXPECT_EQ(input_of(packet(kUdp, 0, 20, 3), HashFields{}, in), kAddressInputLen);
  EXPECT_EQ(input_of(packet(kUdp, 0, 20, 4), HashFields{}, in), kPortsInputLen);
  EXPECT_EQ(input_of(packet(kTcp, 0, 60, 0), HashFields{}, in), kAddressInputLen);
}

TEST(HashInput, BothDirectionsOfAFlow_HashAlikeWithTheSymmetricKey) {
  Toeplitz t(symmetric_key());
  auto fwd = packet(kTcp);
  auto rev = fwd;
  std::copy(fwd.begin() + 16, fwd.begin() + 20, rev.begin() + 12);
  std::copy(fwd.begin() + 12, fwd.begin() + 16, rev.begin() + 16);
  std::copy(fwd.begin() + 20, fwd.begin() + 22, rev.begin() + 22);
  std::copy(fwd.begin() + 22, fwd.begin() + 24, rev.begin() + 20);
  for (HashFields f : {HashFields{}, HashFields{false, false}}) {
    std::array<uint8_t, kMaxHashInput> a, b;
    size_t na = input_of(fwd, f, a), nb = input_of(rev, f, b);
    ASSERT_EQ(na, nb);
    EXPECT_EQ(t.hash(a.data(), na), t.hash(b.data(), nb));
  }
}
