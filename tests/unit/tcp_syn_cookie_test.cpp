// SYN cookies (RFC 4987 §3.6): the cookie itself (what it carries, when it expires, that it
// binds the 4-tuple and the peer's ISN), and a listener flooded past its backlog that still
// lets a real client connect, negotiate its options and transfer.
#include "stack/tcp/syn_cookie.hpp"

#include "tests/unit/tcp_pair.hpp"

namespace redline::testing {
namespace {

using net::Counter;
using tcp::State;
using tcp::SynCookies;

constexpr Endpoint kLocal{0x0a000002, 80}, kRemote{0x0a000001, 40000};

TEST(SynCookie, MadeAndChecked_CarriesTheLargestTableMssNotAboveThePeers) {
  const SynCookies sc(1, 2);
  for (uint16_t peer : {uint16_t(48), uint16_t(536), uint16_t(1299), uint16_t(1300), uint16_t(1460), uint16_t(9000)}) {
    uint16_t used = 0;
    const uint32_t cookie = sc.make(kLocal, kRemote, 777, peer, 100, &used);
    EXPECT_TRUE(used <= peer || used == tcp::kCookieMss[0]) << peer;
    EXPECT_EQ(sc.check(kLocal, kRemote, 777, cookie, 100), used) << peer;
  }
  uint16_t used = 0;
  sc.make(kLocal, kRemote, 777, 1299, 100, &used);
  EXPECT_EQ(used, 1200);
}

TEST(SynCookie, OtherTupleIsnOrKey_AndFlippedBits_AreRefused) {
  const SynCookies sc(1, 2), other(1, 3);
  uint16_t used = 0;
  const uint32_t cookie = sc.make(kLocal, kRemote, 777, 1460, 100, &used);
  EXPECT_FALSE(sc.check(kLocal, {kRemote.ip, 40001}, 777, cookie, 100));
  EXPECT_FALSE(sc.check({kLocal.ip + 1, 80}, kRemote, 777, cookie, 100));
  EXPECT_FALSE(sc.check(kLocal, kRemote, 778, cookie, 100));
  EXPECT_FALSE(other.check(kLocal, kRemote, 777, cookie, 100));
  for (int bit = 0; bit < 32; ++bit) EXPECT_FALSE(sc.check(kLocal, kRemote, 777, cookie ^ (1u << bit), 100)) << bit;
}

TEST(SynCookie, Age_AcceptedForTwoPeriodsThenRefused) {
  const SynCookies sc(1, 2);
  uint16_t used = 0;
  for (uint64_t made : {uint64_t(30), uint64_t(31), uint64_t(1000)}) {  // across the 5-bit wrap
    const uint32_t cookie = sc.make(kLocal, kRemote, 5, 1460, made, &used);
    for (uint64_t age = 0; age <= tcp::kCookieMaxAge; ++age) EXPECT_TRUE(sc.check(kLocal, kRemote, 5, cookie, made + age));
    EXPECT_FALSE(sc.check(kLocal, kRemote, 5, cookie, made + tcp::kCookieMaxAge + 1));
    EXPECT_FALSE(sc.check(kLocal, kRemote, 5, cookie, made + 32)) << "a period 32 later has the same low bits";
    EXPECT_FALSE(sc.check(kLocal, kRemote, 5, cookie, made - 1)) << "from the future";
  }
}

TEST(SynCookie, Timestamp_CarriesShiftAndSackAndNeverRunsAhead) {
  for (uint32_t ts : {0u, 63u, 64u, 1000u, 0xffffffffu}) {
    for (std::optional<uint8_t> shift : {std::optional<uint8_t>(), std::optional<uint8_t>(0), std::optional<uint8_t>(14)})
      for (bool sack : {false, true}) {
        const uint32_t enc = SynCookies::encode_ts(ts, shift, sack);
        EXPECT_LE(uint32_t(ts - enc), SynCookies::kTsMask) << ts;  // at most 63 behind, never ahead
        tcp::CookieOptions o;
        SynCookies::decode_ts(enc, &o);
        EXPECT_EQ(o.window_shift, shift);
        EXPECT_EQ(o.sack_permitted, sack);
      }
  }
}

// B listens with a backlog of 4; `n` spoofed SYNs from 10.0.0.99 fill it (their SYN-ACKs are lost).
struct Flooded : TcpPair {
  explicit Flooded(const tcp::Settings& sa = {}, tcp::Settings sb = small_backlog()) : TcpPair(sa, sb) {
    link.drop_rule = [](const Seen& s, bool from_a) { return !from_a && s.dst_ip == kSpoofed; };
    for (uint16_t i = 0; i < 40; ++i)
      link.inject(false, craft({kSpoofed, uint16_t(20000 + i)}, {kIpB, 80}, {0, 0, 99u * i, 0, tf::kSyn, 65535}));
  }
  static tcp::Settings small_backlog() {
    tcp::Settings s;
    s.syn_backlog = 4;
    return s;
  }
  static constexpr uint32_t kSpoofed = 0x0a000063;
};

TEST(TcpSynCookies, FloodPastBacklog_ClientStillConnectsWithItsOptionsAndTransfers) {
  Flooded f;
  EXPECT_EQ(f.link.b.host->stats().connections, 4u) << "the backlog's half-open connections, no more";
  EXPECT_EQ(f.link.b.env.get(Counter::tcp_syncookies_sent), 36u);
  tcp::Connection* c = f.open();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(f.link.b.env.get(Counter::tcp_syncookies_accepted), 1u);
  tcp::Connection* s = f.server.conn;
  ASSERT_NE(s, nullptr);
  // The cookie carried the MSS (1460 is in the table), the timestamp the shift and SACK.
  EXPECT_EQ(s->mss(), 1460 - 12);
  EXPECT_TRUE(s->timestamps_enabled() && c->timestamps_enabled());
  EXPECT_TRUE(s->sack_enabled() && c->sack_enabled());
  EXPECT_EQ(s->send_shift(), c->recv_shift());
  EXPECT_EQ(c->send_shift(), s->recv_shift());
  EXPECT_GT(c->send_shift(), 0);
  const std::string data = pattern(300'000);
  f.client.to_send = data;
  f.client.pump(*c);
  f.server.echo = true;
  ASSERT_TRUE(f.link.run_until([&] { return f.client.received.size() == data.size(); }, 100'000));
  EXPECT_TRUE(same(f.client.received, data));
  f.close_and_drain();
  EXPECT_EQ(f.link.ledger.live, 0);
}

TEST(TcpSynCookies, ClientWithoutTimestamps_GetsTheMssOnly) {
  tcp::Settings sa;
  sa.timestamps = false;
  Flooded f(sa);
  tcp::Connection* c = f.open();
  ASSERT_NE(c, nullptr);
  tcp::Connection* s = f.server.conn;
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->mss(), 1460);
  EXPECT_FALSE(s->sack_enabled() || c->sack_enabled());
  EXPECT_EQ(s->send_shift() + s->recv_shift() + c->send_shift() + c->recv_shift(), 0);
  f.client.to_send = pattern(100'000);
  f.client.pump(*c);
  ASSERT_TRUE(f.link.run_until([&] { return f.server.received.size() == 100'000; }, 100'000));
  f.close_and_drain();
  EXPECT_EQ(f.link.ledger.live, 0);
}

TEST(TcpSynCookies, ForgedAck_IsResetAndMakesNoConnection) {
  Flooded f;
  const size_t before = f.link.log.size();
  f.link.inject(false, craft({Flooded::kSpoofed, 20020}, {kIpB, 80}, {0, 0, 99u * 20 + 1, 0x12345678, tf::kAck_, 65535}));
  EXPECT_EQ(f.link.b.env.get(Counter::tcp_syncookies_failed), 1u);
  EXPECT_EQ(f.link.b.env.get(Counter::tcp_syncookies_accepted), 0u);
  EXPECT_EQ(f.link.b.host->stats().connections, 4u);
  ASSERT_EQ(f.link.log.size(), before + 1);
  EXPECT_TRUE(f.link.log.back().second.has(tf::kRst));
}

TEST(TcpSynCookies, AckAfterTheCookieExpired_IsRefused) {
  Flooded f;
  // The SYN-ACK to spoofed port 20010 carried a cookie; its ACK comes 4 periods later.
  const auto synacks = sent_by(f.link, false, [](const Seen& s) { return s.h.dst_port == 20010 && s.has(tf::kSyn); });
  ASSERT_EQ(synacks.size(), 1u);
  // Meanwhile the backlog's connections time out; another flood keeps cookies in use.
  f.link.run_ticks(Link::kTicksPerSecond * tcp::kCookiePeriodS * (tcp::kCookieMaxAge + 2));
  f.link.inject(false, craft({Flooded::kSpoofed, 20039}, {kIpB, 80}, {0, 0, 1, 0, tf::kSyn, 65535}));
  for (uint16_t i = 0; i < 5; ++i)
    f.link.inject(false, craft({Flooded::kSpoofed, uint16_t(30000 + i)}, {kIpB, 80}, {0, 0, 1, 0, tf::kSyn, 65535}));
  const uint64_t failed = f.link.b.env.get(Counter::tcp_syncookies_failed);
  f.link.inject(false, craft({Flooded::kSpoofed, 20010}, {kIpB, 80}, {0, 0, 99u * 10 + 1, synacks[0].h.seq + 1, tf::kAck_, 65535}));
  EXPECT_EQ(f.link.b.env.get(Counter::tcp_syncookies_failed), failed + 1);
  EXPECT_EQ(f.link.b.env.get(Counter::tcp_syncookies_accepted), 0u);
}

TEST(TcpSynCookies, CookieAckInTime_MakesTheConnection) {
  Flooded f;
  const auto synacks = sent_by(f.link, false, [](const Seen& s) { return s.h.dst_port == 20010 && s.has(tf::kSyn); });
  ASSERT_EQ(synacks.size(), 1u);
  f.link.run_ticks(Link::kTicksPerSecond * 10);
  f.link.inject(false, craft({Flooded::kSpoofed, 20010}, {kIpB, 80}, {0, 0, 99u * 10 + 1, synacks[0].h.seq + 1, tf::kAck_, 65535},
                             {}, "GET"));
  EXPECT_EQ(f.link.b.env.get(Counter::tcp_syncookies_accepted), 1u);
  ASSERT_NE(f.server.conn, nullptr);
  EXPECT_EQ(f.server.conn->state(), State::kEstablished);
  EXPECT_EQ(f.server.received, "GET");
  EXPECT_EQ(f.server.conn->mss(), tcp::kDefaultMss) << "the SYN had no MSS option";
  f.server.conn->abort();
  f.link.run_ticks(10);
}

TEST(TcpSynCookies, Off_FloodLocksTheListenerAsBefore) {
  tcp::Settings sb = Flooded::small_backlog();
  sb.syn_cookies = false;
  Flooded f({}, sb);
  EXPECT_EQ(f.link.b.env.get(Counter::tcp_syncookies_sent), 0u);
  EXPECT_EQ(f.link.b.env.get(Counter::tcp_backlog_full), 36u);
  tcp::Connection* c = f.link.a.host->connect({kIpB, 80}, f.client);
  ASSERT_NE(c, nullptr);
  f.link.run_ticks(Link::kTicksPerSecond * 2);
  EXPECT_FALSE(f.client.connected);
  c->abort();
  f.link.run_ticks(10);
}

}  // namespace
}  // namespace redline::testing
