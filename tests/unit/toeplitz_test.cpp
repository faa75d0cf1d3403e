#include <gtest/gtest.h>
#include <rte_thash.h>

#include <cstring>
#include <random>

#include "stack/rss/toeplitz.hpp"

using namespace redline::rss;

// Microsoft RSS verification suite key and its published IPv4/TCP result
// (66.9.149.187:2794 -> 161.142.100.80:1766 hashes to 0x51ccc178).
constexpr Key kMicrosoftKey = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
                               0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
                               0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

TEST(Toeplitz, MatchesMicrosoftVerificationVector) {
  Toeplitz t(kMicrosoftKey);
  const uint8_t tuple[12] = {66, 9, 149, 187, 161, 142, 100, 80, 0x0a, 0xea, 0x06, 0xe6};
  EXPECT_EQ(t.hash(tuple, 12), 0x51ccc178u);
  EXPECT_EQ(t.hash(tuple, 8), 0x323e8fc2u);  // the same pair, addresses only
}

TEST(Toeplitz, MatchesRteSoftrssOnRandomTuples) {
  Toeplitz t(kMicrosoftKey);
  std::mt19937 rng(1);
  for (int i = 0; i < 1000; ++i) {
    uint8_t tuple[12];
    for (auto& b : tuple) b = uint8_t(rng());
    uint32_t words[3];
    for (int w = 0; w < 3; ++w)
      words[w] = uint32_t(tuple[w * 4]) << 24 | uint32_t(tuple[w * 4 + 1]) << 16 | uint32_t(tuple[w * 4 + 2]) << 8 | tuple[w * 4 + 3];
    ASSERT_EQ(t.hash(tuple, 12), rte_softrss(words, 3, kMicrosoftKey.data()));
    ASSERT_EQ(t.hash(tuple, 12), Toeplitz::hash_reference(kMicrosoftKey, tuple, 12));
  }
}

TEST(Toeplitz, SymmetricKeyGivesBothDirectionsOneHash) {
  Toeplitz t(symmetric_key());
  std::mt19937 rng(2);
  for (int i = 0; i < 1000; ++i) {
    uint8_t fwd[12], rev[12];
    for (auto& b : fwd) b = uint8_t(rng());
    std::memcpy(rev, fwd + 4, 4);
    std::memcpy(rev + 4, fwd, 4);
    std::memcpy(rev + 8, fwd + 10, 2);
    std::memcpy(rev + 10, fwd + 8, 2);
    ASSERT_EQ(t.hash(fwd, 12), t.hash(rev, 12));
  }
}
