#include <gtest/gtest.h>

#include <random>

#include "golden.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/ipv4.hpp"

using namespace redline;

TEST(Checksum, GoldenIpv4HeaderVerifies) {
  EXPECT_TRUE(wire::checksum_ok(golden::kEchoRequest.data(), 20));
  auto header = golden::kEchoRequest;
  header[10] = header[11] = 0;
  EXPECT_EQ(wire::internet_checksum(header.data(), 20), 0x66da);
}

TEST(Checksum, HeaderVerificationAgreesWithTheGenericSum) {
  std::mt19937 rng(3);
  for (int round = 0; round < 2000; ++round) {
    uint8_t h[60];
    size_t len = 20 + 4 * (rng() % 11);
    for (auto& b : h) b = uint8_t(rng());
    if (round % 2) {  // half of them valid
      h[10] = h[11] = 0;
      wire::store16(h, 10, wire::internet_checksum(h, len));
    }
    ASSERT_EQ(wire::ipv4_header_checksum_ok(h, len), wire::checksum_ok(h, len)) << "round " << round;
  }
}

TEST(Checksum, OddLengthPadsWithZero) {
  // RFC 1071 §4.1 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
  const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(wire::ones_complement_sum(data, 8), 0xddf2);
  const uint8_t odd[] = {0x01};
  EXPECT_EQ(wire::ones_complement_sum(odd, 1), 0x0100);
}

TEST(Checksum, IncrementalUpdateMatchesFullRecompute) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    uint8_t h[20];
    for (auto& b : h) b = uint8_t(rng());
    h[10] = h[11] = 0;
    wire::store16(h, 10, wire::internet_checksum(h, 20));
    size_t word = (rng() % 10) * 2;
    if (word == 10) continue;
    uint16_t old_word = wire::load16(h, word), new_word = uint16_t(rng());
    wire::store16(h, word, new_word);
    uint16_t incremental = wire::checksum_update16(wire::load16(h, 10), old_word, new_word);
    h[10] = h[11] = 0;
    uint16_t full = wire::internet_checksum(h, 20);
    // RFC 1624 §3: the two may differ only in the representation of zero (0x0000 vs 0xffff).
    if (!((incremental == 0xffff && full == 0) || (incremental == 0 && full == 0xffff))) {
      ASSERT_EQ(incremental, full) << "round " << round;
    }
  }
}

TEST(Checksum, TtlDecrementMatchesScapy) {
  auto packet = golden::kEchoRequest;
  wire::ipv4::decrement_ttl(packet.data());
  std::vector<uint8_t> header(packet.begin(), packet.begin() + 20);
  EXPECT_EQ(header, golden::kEchoRequestTtl63Header);
}

TEST(Checksum, TtlDecrementAgreesWithAFullRecomputationForEveryTtlAndChecksum) {
  // Every TTL from 255 to 2, against headers whose other fields sweep the checksum through its
  // carries, including checksums 0xfeff-0xffff where the carry wraps.
  for (uint32_t ident = 0; ident < 65536; ident += 251) {
    for (uint8_t ttl : {uint8_t(255), uint8_t(128), uint8_t(2)}) {
      uint8_t h[20] = {0x45, 0, 0, 40, uint8_t(ident >> 8), uint8_t(ident), 0, 0, ttl, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
      wire::store16(h, 10, wire::internet_checksum(h, 20));
      wire::ipv4::decrement_ttl(h);
      ASSERT_TRUE(wire::checksum_ok(h, 20)) << "ident " << ident << " ttl " << int(ttl);
      const uint16_t incremental = wire::load16(h, 10);
      wire::store16(h, 10, 0);
      ASSERT_EQ(incremental, wire::internet_checksum(h, 20)) << "ident " << ident << " ttl " << int(ttl);
    }
  }
}
