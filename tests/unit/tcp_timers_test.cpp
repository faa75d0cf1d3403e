// The timers of a connection, read off the link's clock: retransmission timeout with backoff
// and its floor and ceiling (RFC 6298), SYN retries, the persist timer probing a zero window
// (RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6), the delayed ACK (RFC 9293 §3.8.6.3,
// RFC 5681 §4.2) and Nagle's hold on small writes (RFC 9293 §3.7.4).
#include "tests/unit/tcp_pair.hpp"

namespace redline::testing {
namespace {

using net::Counter;
using tcp::State;

constexpr uint64_t kMs = Link::kTicksPerSecond / 1000;  // ticks per millisecond

// Ticks between consecutive entries of `at`.
std::vector<uint64_t> gaps(const std::vector<Seen>& segs) {
  std::vector<uint64_t> out;
  for (size_t i = 1; i < segs.size(); ++i) out.push_back(segs[i].at - segs[i - 1].at);
  return out;
}

TEST(TcpTimers, Rto_DoublesPerExpiryUpToMaxThenResetsOnTheNextSample) {
  // RFC 6298 §5.5: each expiry doubles the RTO; §2.5: up to the ceiling (1.6 s here); §5.7:
  // the next valid RTT sample (a timestamp echo, RFC 7323 §4.1) brings it back to the computed
  // value, the 200 ms floor on this fast link.
  tcp::Settings sa;
  sa.max_rto_ms = 1600;
  sa.tail_loss_probe = false;  // the RTO itself is under test, not the probe that precedes it
  TcpPair p(sa);
  tcp::Connection* c = p.open();
  ASSERT_EQ(c->rto_us(), 200'000u);
  bool black_hole = true;
  p.link.drop_rule = [&](const Seen& s, bool from_a) { return black_hole && from_a && s.payload_len > 0; };
  c->send("ping", 4);
  ASSERT_TRUE(p.link.run_until([&] { return data_from(p.link, true).size() == 8; }, 20 * Link::kTicksPerSecond));
  const auto sends = data_from(p.link, true);
  EXPECT_EQ(gaps(sends), (std::vector<uint64_t>{200 * kMs, 400 * kMs, 800 * kMs, 1600 * kMs, 1600 * kMs,
                                                1600 * kMs, 1600 * kMs}));
  for (const Seen& s : sends) EXPECT_EQ(s.h.seq, sends[0].h.seq);
  EXPECT_EQ(c->rto_us(), 1'600'000u);
  EXPECT_EQ(c->stats().timeouts, 7u);
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_timeouts), 7u);
  black_hole = false;
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received == "ping" && c->unacked() == 0; }, 2 * Link::kTicksPerSecond));
  EXPECT_EQ(c->rto_us(), 200'000u) << "backoff undone by the sample";
  // And the next loss is timed from the reset value.
  black_hole = true;
  c->send("pong", 4);
  const size_t before = data_from(p.link, true).size();
  ASSERT_TRUE(p.link.run_until([&] { return data_from(p.link, true).size() == before + 2; }, 2 * Link::kTicksPerSecond));
  const auto more = data_from(p.link, true);
  EXPECT_EQ(more.back().at - more[before].at, 200 * kMs);
  black_hole = false;
  p.link.run_ticks(Link::kTicksPerSecond);
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpTimers, Rto_NeverBelowMinRto) {
  // On a link with a 0.1 ms RTT the computed RTO is about a millisecond; the first
  // retransmission still waits min_rto_ms (RFC 6298 §2.4; 200 ms by default).
  for (uint32_t min_rto : {200u, 500u}) {
    SCOPED_TRACE(min_rto);
    tcp::Settings sa;
    sa.min_rto_ms = min_rto;
    sa.tail_loss_probe = false;  // the RTO itself is under test, not the probe that precedes it
    TcpPair p(sa);
    tcp::Connection* c = p.open();
    EXPECT_LT(c->srtt_us(), 1000u);
    EXPECT_EQ(c->rto_us(), min_rto * 1000);
    bool lose = true;
    p.link.drop_rule = [&](const Seen& s, bool from_a) { return lose && from_a && s.payload_len > 0; };
    c->send("x", 1);
    ASSERT_TRUE(p.link.run_until([&] { return data_from(p.link, true).size() == 2; }, 2 * Link::kTicksPerSecond));
    const auto sends = data_from(p.link, true);
    EXPECT_EQ(sends[1].at - sends[0].at, min_rto * kMs);
    lose = false;
    ASSERT_TRUE(p.link.run_until([&] { return p.server.received == "x"; }, 2 * Link::kTicksPerSecond));
    p.close_and_drain();
    EXPECT_EQ(p.link.ledger.live, 0);
  }
}

TEST(TcpTimers, SynRetransmittedWithBackoffThenConnectTimesOut) {
  // RFC 6298 §2.1 (initial RTO 1 s) and §5.5 (doubling): SYNs at 0, 1, 3, 7 and 15 s with
  // syn_retries = 4, then the connect fails with kTimeout at 31 s.
  tcp::Settings sa;
  sa.syn_retries = 4;
  TcpPair p(sa);
  p.link.drop_rule = [](const Seen& s, bool from_a) { return from_a && s.has(tf::kSyn); };
  tcp::Connection* c = p.link.a.host->connect({kIpB, 80}, p.client);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(p.link.run_until([&] { return p.client.closed; }, 40 * Link::kTicksPerSecond));
  EXPECT_EQ(p.client.error, tcp::Error::kTimeout);
  EXPECT_FALSE(p.client.connected);
  EXPECT_EQ(p.link.now, 31 * Link::kTicksPerSecond);
  const auto syns = sent_by(p.link, true, [](const Seen& s) { return s.has(tf::kSyn); });
  ASSERT_EQ(syns.size(), 5u);
  EXPECT_EQ(gaps(syns), (std::vector<uint64_t>{1000 * kMs, 2000 * kMs, 4000 * kMs, 8000 * kMs}));
  for (const Seen& s : syns) EXPECT_EQ(s.h.seq, syns[0].h.seq) << "the same ISN each time";
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_timed_out), 1u);
  EXPECT_EQ(p.link.a.host->stats().connections, 0u);
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpTimers, ZeroWindow_PersistProbesWithBackoffUntilTheReceiverReads) {
  // A receiver that reads nothing: its 16 KiB window closes. The sender, with data waiting and
  // nothing in flight, sends 1-byte probes on the persist timer, further apart each time (RFC
  // 9293 §3.8.6.1, RFC 1122 §4.2.2.17). Once the application reads, the receiver sends a window
  // update at once and the transfer completes.
  tcp::ConnOptions small;
  small.recv_buffer = 16 * 1024;
  TcpPair p({}, {}, 1, small);
  p.server.consume = false;
  tcp::Connection* c = p.open();
  p.client.to_send = pattern(100'000);
  p.client.pump(*c);
  ASSERT_TRUE(p.link.run_until([&] { return c->send_window() == 0 && c->unacked() == 0; }, 10'000));
  const size_t closed_at = p.link.log.size();
  p.link.run_ticks(20 * Link::kTicksPerSecond);
  std::vector<Seen> probes;
  for (size_t i = closed_at; i < p.link.log.size(); ++i) {
    const auto& [from_a, s] = p.link.log[i];
    if (from_a) {
      EXPECT_EQ(s.payload_len, 1u) << "only probes while the window is zero";
      probes.push_back(s);
    } else {
      EXPECT_EQ(s.h.window, 0) << "the window stays closed";
    }
  }
  ASSERT_GE(probes.size(), 4u);
  for (const Seen& pr : probes) EXPECT_EQ(pr.h.seq, probes[0].h.seq) << "each probe is the same next byte";
  const auto g = gaps(probes);
  for (size_t i = 1; i < g.size(); ++i) EXPECT_EQ(g[i], 2 * g[i - 1]) << "probe " << i;
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_fast_retransmits), 0u) << "ACKs of probes are not duplicate ACKs";
  EXPECT_EQ(p.server.received.size(), 0u);
  EXPECT_EQ(p.server.conn->readable(), 16u * 1024);
  // The application reads: the window reopens with an immediate update.
  const size_t before = p.link.log.size();
  p.server.consume = true;
  p.server.on_data(*p.server.conn);
  p.link.tick();
  ASSERT_GT(p.link.log.size(), before);
  EXPECT_FALSE(p.link.log[before].first);
  EXPECT_GT(p.link.log[before].second.h.window, 0) << "a window update";
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received.size() == 100'000; }, 10 * Link::kTicksPerSecond));
  EXPECT_TRUE(same(p.server.received, p.client.to_send));
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

tcp::Keepalive keepalive(uint32_t idle_s, uint32_t interval_s, uint32_t probes) {
  tcp::Keepalive k;
  k.enabled = true;
  k.idle_s = idle_s;
  k.interval_s = interval_s;
  k.probes = probes;
  return k;
}

bool is_keepalive_probe(const Seen& s, const tcp::Connection& c) {
  // RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT - 1, no data.
  return s.payload_len == 0 && s.h.flags == tf::kAck_ && s.h.seq == c.snd_una().value() - 1;
}

TEST(TcpTimers, Keepalive_AnsweredProbesKeepTheConnection) {
  TcpPair p;
  tcp::Connection* c = p.open();
  c->set_keepalive(keepalive(10, 2, 3));
  const uint64_t quiet_since = p.link.now;
  p.link.run_ticks(35 * Link::kTicksPerSecond);
  const auto probes = sent_by(p.link, true, [&](const Seen& s) { return is_keepalive_probe(s, *c); });
  ASSERT_EQ(probes.size(), 3u);
  // Each probe after `idle` without hearing from the peer (its answer to the last probe counts).
  EXPECT_NEAR(double(probes[0].at - quiet_since), 10.0 * Link::kTicksPerSecond, 2);
  EXPECT_EQ(gaps(probes), (std::vector<uint64_t>{10 * Link::kTicksPerSecond + 2, 10 * Link::kTicksPerSecond + 2}))
      << "idle counted from the answer, which arrives two ticks after the probe left";
  // Every probe was answered with an ACK for the next byte expected.
  const auto answers = pure_acks_from(p.link, false);
  for (const Seen& pr : probes) {
    bool answered = false;
    for (const Seen& a : answers) answered |= a.at == pr.at + 1 && a.h.ack == c->snd_una().value();
    EXPECT_TRUE(answered);
  }
  EXPECT_EQ(c->state(), State::kEstablished);
  EXPECT_FALSE(p.client.closed);
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_keepalive_probes), 3u);
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpTimers, Keepalive_SilentPeerEndsTheConnectionAfterProbes) {
  // RFC 1122 §4.2.3.6: unanswered probes every `interval`; after `probes` of them the
  // connection is dead: kTimeout at idle + probes * interval.
  TcpPair p;
  tcp::Connection* c = p.open();
  c->set_keepalive(keepalive(10, 2, 3));
  const uint64_t start = p.link.now;
  p.link.drop_rule = [](const Seen&, bool from_a) { return !from_a; };
  ASSERT_TRUE(p.link.run_until([&] { return p.client.closed; }, 30 * Link::kTicksPerSecond));
  EXPECT_EQ(p.client.error, tcp::Error::kTimeout);
  EXPECT_EQ(p.link.now - start, 16 * Link::kTicksPerSecond);
  const auto probes = sent_by(p.link, true, [&](const Seen& s) { return s.payload_len == 0 && s.at > start; });
  ASSERT_EQ(probes.size(), 3u);
  EXPECT_EQ(gaps(probes), (std::vector<uint64_t>{2 * Link::kTicksPerSecond, 2 * Link::kTicksPerSecond}));
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_keepalive_probes), 3u);
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_timed_out), 1u);
  EXPECT_EQ(p.link.a.host->stats().connections, 0u);
  p.server.conn->abort();
  p.link.run_ticks(10);
  EXPECT_EQ(p.link.ledger.live, 0);
}

// One exchange first, so that the server has offered its whole window (the SYN-ACK's is capped
// at 64 KiB, RFC 7323 §2.2; the first data opens it to the 256 KiB buffer with an update sent at
// once) and what follows shows the steady state; then a quiet link. Returns where the log stands.
size_t warm_up(TcpPair& p, tcp::Connection* c) {
  p.client.to_send = "warm";
  p.client.pump(*c);
  EXPECT_TRUE(p.link.run_until([&] { return p.server.received == "warm" && c->unacked() == 0; }, Link::kTicksPerSecond));
  p.link.run_ticks(1000);
  p.server.received.clear();
  p.client.to_send.clear();
  p.client.sent = 0;
  return p.link.log.size();
}

std::vector<Seen> data_since(const Link& link, size_t from) {
  std::vector<Seen> out;
  for (size_t i = from; i < link.log.size(); ++i)
    if (link.log[i].first && link.log[i].second.payload_len) out.push_back(link.log[i].second);
  return out;
}

TEST(TcpTimers, DelayedAck_SingleSmallSegmentAckedAfter40ms) {
  // RFC 9293 §3.8.6.3: an ACK may wait (here delayed_ack_ms, 40 ms) for more data or a reply
  // to ride on; a lone small segment gets its ACK when the timer runs out.
  TcpPair p;
  tcp::Connection* c = p.open();
  const size_t from = warm_up(p, c);
  c->send("hello", 5);
  ASSERT_TRUE(p.link.run_until([&] { return c->unacked() == 0 && p.server.received == "hello"; }, Link::kTicksPerSecond));
  ASSERT_EQ(data_since(p.link, from).size(), 1u);
  const Seen data = data_since(p.link, from).back();
  const auto acks = sent_by(p.link, false, [&](const Seen& s) { return s.h.ack == data.h.seq + 5; });
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].at - (data.at + 1), 40 * kMs) << "40 ms after the segment arrived";
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpTimers, DelayedAck_EverySecondFullSegmentAckedAtOnce) {
  // RFC 5681 §4.2 / RFC 9293 §3.8.6.3: at least every second full-sized segment is ACKed at
  // once — and, when the application takes the data as it comes, not every one: ten segments
  // arriving together draw five ACKs, no delayed one.
  TcpPair p;
  tcp::Connection* c = p.open();
  const size_t from = warm_up(p, c);
  const size_t before = from;
  p.client.to_send = pattern(10 * c->mss());
  p.client.pump(*c);
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received.size() == p.client.to_send.size() && c->unacked() == 0; },
                               Link::kTicksPerSecond));
  EXPECT_TRUE(same(p.server.received, p.client.to_send));
  std::vector<Seen> data, acks;
  for (size_t i = before; i < p.link.log.size(); ++i) (p.link.log[i].first ? data : acks).push_back(p.link.log[i].second);
  ASSERT_EQ(data.size(), 10u);
  ASSERT_EQ(acks.size(), 5u);
  for (size_t k = 0; k < acks.size(); ++k) {
    EXPECT_EQ(acks[k].h.ack, data[2 * k + 1].h.seq + c->mss()) << k;
    EXPECT_EQ(acks[k].at, data[2 * k + 1].at + 1) << "sent as the second segment arrives";
  }
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpTimers, Nagle_HoldsSmallWritesWhileDataIsUnacked) {
  // RFC 9293 §3.7.4: with data in flight, small writes wait; they leave together when the ACK
  // comes (here the peer's delayed ACK, 40 ms later).
  TcpPair p;
  tcp::Connection* c = p.open();
  const size_t from = warm_up(p, c);
  c->send("aaaa", 4);
  c->send("bbbb", 4);
  p.link.run_ticks(1);
  c->send("cccc", 4);
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received == "aaaabbbbcccc" && c->unacked() == 0; }, Link::kTicksPerSecond));
  const auto data = data_since(p.link, from);
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].payload_len, 8u) << "what was written before the first send goes together";
  EXPECT_EQ(data[1].payload_len, 4u);
  EXPECT_EQ(data[1].at - data[0].at, 40 * kMs + 2) << "held until the delayed ACK came back";
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpTimers, Nagle_OffWithNodelaySmallWritesGoAtOnce) {
  TcpPair p;
  tcp::Connection* c = p.open();
  c->set_nodelay(true);
  const size_t from = warm_up(p, c);
  for (const char* w : {"aaaa", "bbbb", "cccc"}) {
    c->send(w, 4);
    p.link.run_ticks(1);
  }
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received == "aaaabbbbcccc"; }, Link::kTicksPerSecond));
  const auto data = data_since(p.link, from);
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(gaps(data), (std::vector<uint64_t>{1, 1}));
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

}  // namespace
}  // namespace redline::testing
