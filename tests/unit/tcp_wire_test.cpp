// TCP's wire-level building blocks: sequence numbers compared modulo 2^32 (RFC 9293 §3.4) and
// the options area (RFC 9293 §3.1-3.2, RFC 7323 §2-3, RFC 2018 §2-3): written options parse back
// to what was written, and malformed option lists neither crash nor lose what parsed before the
// damage. Parsers read their input flush against a PROT_NONE page, so a read past the options
// area faults instead of passing.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "stack/net/tcp_seq.hpp"
#include "stack/wire/tcp.hpp"

namespace redline {
namespace {

using net::TcpSeq;
namespace f = wire::tcp;

// Places bytes so that the last one sits right before an inaccessible page.
class Guarded {
 public:
  Guarded() {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    base_ = static_cast<uint8_t*>(mmap(nullptr, page_ * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mprotect(base_ + page_, page_, PROT_NONE);
  }
  ~Guarded() { munmap(base_, page_ * 2); }
  const uint8_t* place(const std::vector<uint8_t>& v) {
    uint8_t* at = base_ + page_ - v.size();
    if (!v.empty()) std::memcpy(at, v.data(), v.size());
    return at;
  }

 private:
  size_t page_;
  uint8_t* base_;
};

f::Options parse(const std::vector<uint8_t>& bytes) {
  static Guarded g;
  return f::parse_options(g.place(bytes), bytes.size());
}

// --- TcpSeq ---

TEST(TcpSeq, ComparesAcrossTheWrap) {
  const TcpSeq before_wrap(0xfffffff0u), after_wrap(0x10u);
  EXPECT_TRUE(before_wrap < after_wrap);
  EXPECT_TRUE(after_wrap > before_wrap);
  EXPECT_TRUE(before_wrap <= after_wrap);
  EXPECT_FALSE(before_wrap >= after_wrap);
  EXPECT_EQ(after_wrap - before_wrap, 0x20);
  EXPECT_EQ(before_wrap - after_wrap, -0x20);
  EXPECT_EQ(before_wrap + 0x20u, after_wrap);
  EXPECT_EQ(after_wrap - 0x20u, before_wrap);
  EXPECT_EQ(net::seq_max(before_wrap, after_wrap), after_wrap);
  EXPECT_EQ(net::seq_min(before_wrap, after_wrap), before_wrap);
}

TEST(TcpSeq, WindowMembershipSpansTheWrap) {
  const TcpSeq lo(0xffff0000u), hi = lo + 0x20000u;  // hi is 0x00010000
  EXPECT_TRUE(net::seq_in(TcpSeq(0xffffffffu), lo, hi));
  EXPECT_TRUE(net::seq_in(TcpSeq(0u), lo, hi));
  EXPECT_TRUE(net::seq_in(lo, lo, hi));
  EXPECT_FALSE(net::seq_in(hi, lo, hi));  // half open
  EXPECT_FALSE(net::seq_in(TcpSeq(0xfffeffffu), lo, hi));
  EXPECT_FALSE(net::seq_in(TcpSeq(0x00010001u), lo, hi));
}

TEST(TcpSeq, HalfTheSpaceApartIsTheLimitOfOrdering) {
  // RFC 9293 §3.4: comparison is meaningful only for values less than 2^31 apart.
  const TcpSeq a(100);
  EXPECT_TRUE(a < a + 0x7fffffffu);
  EXPECT_TRUE(a > a + 0x80000001u);  // further than 2^31 ahead reads as behind
  EXPECT_FALSE(a < a);
  EXPECT_TRUE(a <= a && a >= a);
}

// --- options: round trips ---

void expect_round_trip(const f::Options& o) {
  std::vector<uint8_t> buf(f::kMaxOptionsLen + 8, 0xee);
  const size_t n = f::write_options(buf.data(), o);
  EXPECT_EQ(n, f::options_len(o));
  EXPECT_EQ(n % 4, 0u) << "options must pad to a 32-bit boundary (RFC 9293 §3.1)";
  EXPECT_LE(n, f::kMaxOptionsLen);
  EXPECT_EQ(buf[n], 0xee) << "wrote past options_len";
  buf.resize(n);
  EXPECT_EQ(parse(buf), o);
}

TEST(TcpOptions, SynOptionsRoundTrip) {
  f::Options o;
  o.mss = 1460;
  o.window_shift = 7;
  o.sack_permitted = true;
  o.has_timestamps = true;
  o.ts_val = 0x01020304;
  o.ts_ecr = 0;
  expect_round_trip(o);
}

TEST(TcpOptions, SynOptionsUseTheLinuxLayout) {
  f::Options o;
  o.mss = 1460;
  o.window_shift = 7;
  o.sack_permitted = true;
  o.has_timestamps = true;
  o.ts_val = 1;
  o.ts_ecr = 2;
  // The option layout of a Linux SYN, written out by hand from RFC 9293 §3.2, RFC 2018 §2 and
  // RFC 7323 §2.2/§3.2 (scapy is not installed here; in scapy:
  // TCP(options=[('MSS',1460),('SAckOK',b''),('Timestamp',(1,2)),('NOP',None),('WScale',7)])).
  const std::vector<uint8_t> want = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0, 0, 0, 1,
                                     0,    0,    0,    2,    0x01, 0x03, 0x03, 0x07};
  std::vector<uint8_t> buf(f::kMaxOptionsLen);
  buf.resize(f::write_options(buf.data(), o));
  EXPECT_EQ(buf, want);
}

TEST(TcpOptions, SackPermittedWithoutTimestampsRoundTrips) {
  f::Options o;
  o.mss = 536;
  o.sack_permitted = true;
  expect_round_trip(o);
}

TEST(TcpOptions, ThreeSackBlocksBesideTimestampsRoundTrip) {
  f::Options o;
  o.has_timestamps = true;
  o.ts_val = 0xfffffffe;
  o.ts_ecr = 0x80000000;
  o.sack_count = 3;
  o.sack[0] = {0xfffffff0u, 0x00000010u};  // a block across the wrap
  o.sack[1] = {1000, 2000};
  o.sack[2] = {3000, 4448};
  expect_round_trip(o);
  EXPECT_EQ(f::options_len(o), 40u);  // RFC 2018 §3: the most that fits beside timestamps
}

TEST(TcpOptions, FourSackBlocksWithoutTimestampsRoundTrip) {
  f::Options o;
  o.sack_count = 4;
  for (uint32_t k = 0; k < 4; ++k) o.sack[k] = {k * 3000, k * 3000 + 1448};
  expect_round_trip(o);
}

TEST(TcpOptions, WindowShiftAbove14IsTakenAs14) {
  // RFC 7323 §2.3: a shift above 14 is logged and used as 14.
  EXPECT_EQ(parse({0x03, 0x03, 15}).window_shift, 14);
  EXPECT_EQ(parse({0x03, 0x03, 255}).window_shift, 14);
  EXPECT_EQ(parse({0x03, 0x03, 14}).window_shift, 14);
}

TEST(TcpOptions, UnknownKindsAreSkippedByTheirLength) {
  // Kind 30 (MPTCP) with 6 bytes, then MSS: RFC 9293 §3.1 says to skip what is not understood.
  const f::Options o = parse({30, 6, 1, 2, 3, 4, 0x02, 0x04, 0x05, 0xb4});
  EXPECT_EQ(o.mss, 1460);
}

TEST(TcpOptions, EndOfListStopsParsing) {
  const f::Options o = parse({0x02, 0x04, 0x05, 0xb4, 0x00, 0x04, 0x02});
  EXPECT_EQ(o.mss, 1460);
  EXPECT_FALSE(o.sack_permitted);
}

// --- options: malformed lists ---

TEST(TcpOptions, LengthZeroStopsParsingAndKeepsWhatCameBefore) {
  const f::Options o = parse({0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x00, 0x03, 0x03, 0x07});
  EXPECT_EQ(o.mss, 1460);
  EXPECT_TRUE(o.sack_permitted);
  EXPECT_FALSE(o.has_timestamps);
  EXPECT_FALSE(o.window_shift.has_value()) << "nothing after the bad length is trusted";
}

TEST(TcpOptions, LengthOneStopsParsingAndKeepsWhatCameBefore) {
  const f::Options o = parse({0x01, 0x03, 0x03, 0x05, 0x02, 0x01, 0x04, 0x02});
  EXPECT_EQ(o.window_shift, 5);
  EXPECT_FALSE(o.mss.has_value());
  EXPECT_FALSE(o.sack_permitted);
}

TEST(TcpOptions, LengthPastTheEndStopsParsingAndKeepsWhatCameBefore) {
  const f::Options o = parse({0x02, 0x04, 0x05, 0xb4, 0x08, 0x0a, 0, 0, 0, 1});
  EXPECT_EQ(o.mss, 1460);
  EXPECT_FALSE(o.has_timestamps);
}

TEST(TcpOptions, KindInTheLastByteWithoutLengthIsIgnored) {
  const f::Options o = parse({0x02, 0x04, 0x05, 0xb4, 0x08});
  EXPECT_EQ(o.mss, 1460);
  EXPECT_FALSE(o.has_timestamps);
}

TEST(TcpOptions, WrongLengthForItsKindIsIgnoredButParsingGoesOn) {
  // MSS with length 6, timestamps with 8, SACK with a length not 2 + 8n, then a good SACK-permitted.
  const f::Options o = parse({0x02, 0x06, 0x05, 0xb4, 0, 0, 0x08, 0x08, 0, 0, 0, 1, 0, 0,
                              0x05, 0x06, 0, 0, 0, 1, 0x04, 0x02});
  EXPECT_FALSE(o.mss.has_value());
  EXPECT_FALSE(o.has_timestamps);
  EXPECT_EQ(o.sack_count, 0);
  EXPECT_TRUE(o.sack_permitted);
}

TEST(TcpOptions, FourSackBlocksFillA34ByteOption) {
  // 2 + 4 * 8 bytes: the most blocks 40 bytes of options hold (RFC 2018 §3).
  std::vector<uint8_t> b = {0x05, 34};
  for (uint32_t k = 0; k < 8; ++k) b.push_back(uint8_t(k));
  b.resize(36, 0x11);
  const f::Options o = parse(b);
  EXPECT_EQ(o.sack_count, 4);
  EXPECT_EQ(o.sack[0].left, 0x00010203u);
}

TEST(TcpOptions, EveryPrefixOfAFullOptionAreaParsesWithoutReadingBeyondIt) {
  f::Options o;
  o.has_timestamps = true;
  o.ts_val = 77;
  o.ts_ecr = 88;
  o.sack_count = 3;
  o.sack[0] = {10, 20};
  o.sack[1] = {30, 40};
  o.sack[2] = {50, 60};
  std::vector<uint8_t> full(f::kMaxOptionsLen);
  full.resize(f::write_options(full.data(), o));
  for (size_t n = 0; n <= full.size(); ++n) {
    const f::Options got = parse(std::vector<uint8_t>(full.begin(), full.begin() + long(n)));
    // Timestamps (bytes 2..11) survive any cut after them; SACK only the whole area.
    EXPECT_EQ(got.has_timestamps, n >= 12) << n;
    EXPECT_EQ(got.sack_count, n == full.size() ? 3 : 0) << n;
  }
}

TEST(TcpOptions, RandomBytesNeverCrashTheParser) {
  uint32_t x = 12345;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> b(size_t(x % (f::kMaxOptionsLen + 1)));
    for (auto& v : b) {
      x = x * 1664525u + 1013904223u;
      v = uint8_t(x >> 24) % 12;  // mostly the kinds we know, and small lengths
    }
    const f::Options o = parse(b);
    EXPECT_LE(o.sack_count, f::kMaxSackBlocks);
    if (o.window_shift) {
      EXPECT_LE(*o.window_shift, f::kMaxWindowShift);
    }
    x = x * 1664525u + 1013904223u;
  }
}

}  // namespace
}  // namespace redline
