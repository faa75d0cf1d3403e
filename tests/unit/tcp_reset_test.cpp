// Segments a connection must not simply believe: resets and SYNs from a blind attacker (RFC 5961
// §3-4), stale segments caught by their timestamps (PAWS, RFC 7323 §5), and the resets a host
// sends for segments that reach no connection (RFC 9293 §3.10.7.1). Segments are crafted and put
// on the link with Link::inject, as an off-path sender would.
#include "tests/unit/tcp_pair.hpp"

namespace redline::testing {
namespace {

using tcp::State;
using net::Counter;

TEST(TcpReset, RstInWindowButNotExact_GetsChallengeAck) {
  // RFC 5961 §3.2: an RST inside the window but not at RCV.NXT draws a challenge ACK
  // (<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>) and changes nothing.
  Established e;
  const uint32_t rcv_nxt = e.s->rcv_nxt().value();
  e.link.inject(false, e.to_server(100, tf::kRst));
  EXPECT_EQ(e.link.b.env.get(Counter::tcp_challenge_acks), 1u);
  EXPECT_EQ(e.link.b.env.get(Counter::tcp_rst_received), 0u);
  EXPECT_EQ(e.s->state(), State::kEstablished);
  const auto sent = e.server_sent_since_quiet();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].h.flags, tf::kAck_);
  EXPECT_EQ(sent[0].h.ack, rcv_nxt);
  EXPECT_EQ(sent[0].h.seq, e.s->snd_nxt().value());
  // The real client takes the challenge ACK as a duplicate and the connection goes on.
  e.link.run_ticks(100);
  EXPECT_EQ(e.c->state(), State::kEstablished);
  e.client.to_send += " again";
  e.client.pump(*e.c);
  ASSERT_TRUE(e.link.run_until([&] { return e.server.received == "hello again"; }, 1000));
  e.close_and_drain();
  EXPECT_EQ(e.link.ledger.live, 0);
}

TEST(TcpReset, ExactRst_ResetsTheConnection) {
  // RFC 5961 §3.2 / RFC 9293 §3.10.7.4: an RST at exactly RCV.NXT resets.
  Established e;
  e.link.inject(false, e.to_server(0, tf::kRst));
  EXPECT_TRUE(e.server.closed);
  EXPECT_EQ(e.server.error, tcp::Error::kReset);
  EXPECT_EQ(e.link.b.env.get(Counter::tcp_rst_received), 1u);
  EXPECT_EQ(e.link.b.env.get(Counter::tcp_reset), 1u);
  EXPECT_EQ(e.link.b.host->stats().connections, 0u);
  EXPECT_TRUE(e.server_sent_since_quiet().empty()) << "a RST is never answered";
  e.c->abort();
  e.link.run_ticks(10);
  EXPECT_EQ(e.link.ledger.live, 0);
}

TEST(TcpReset, RstOutOfWindow_IsIgnoredSilently) {
  // RFC 5961 §3.2: an RST outside the window is dropped without an answer.
  Established e;
  e.link.inject(false, e.to_server(10'000'000, tf::kRst));
  e.link.inject(false, e.to_server(-10'000, tf::kRst));
  EXPECT_EQ(e.s->state(), State::kEstablished);
  EXPECT_FALSE(e.server.closed);
  EXPECT_EQ(e.link.b.env.get(Counter::tcp_challenge_acks), 0u);
  EXPECT_EQ(e.link.b.env.get(Counter::tcp_rst_received), 0u);
  EXPECT_TRUE(e.server_sent_since_quiet().empty());
  e.close_and_drain();
  EXPECT_EQ(e.link.ledger.live, 0);
}

TEST(TcpReset, SynOnEstablished_GetsChallengeAckAndChangesNothing) {
  // RFC 5961 §4.2: a SYN in a synchronized state, wherever its sequence number, draws a
  // challenge ACK; the connection is neither reset nor restarted.
  Established e;
  e.link.inject(false, e.to_server(5, tf::kSyn));
  EXPECT_EQ(e.link.b.env.get(Counter::tcp_challenge_acks), 1u);
  EXPECT_EQ(e.s->state(), State::kEstablished);
  const auto sent = e.server_sent_since_quiet();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].h.flags, tf::kAck_);
  EXPECT_EQ(sent[0].h.ack, e.s->rcv_nxt().value());
  EXPECT_EQ(e.server.accepted, 1);
  e.link.run_ticks(100);
  e.close_and_drain();
  EXPECT_EQ(e.link.ledger.live, 0);
}

TEST(TcpReset, OldTimestamp_RejectedByPawsAndNotDelivered) {
  // RFC 7323 §5.3 R1: a segment whose TSval is older than TS.Recent is a duplicate from an
  // earlier wrap of the sequence space: dropped (with an ACK), its data never delivered. The
  // crafted copy stands in for the client's real segment, which the link loses; the client's
  // retransmission, with a fresh TSval, then delivers the bytes once.
  Established e;
  const Seen last = e.link.log[e.quiet - 1].second;
  uint32_t ts_recent = 0;
  for (const auto& [from_a, s] : e.link.log)
    if (from_a) ts_recent = s.opt.ts_val;
  bool lose = true;
  e.link.drop_rule = [&](const Seen& s, bool from_a) { return lose && from_a && s.payload_len > 0; };
  e.client.to_send += "WORLD";
  e.client.pump(*e.c);
  e.link.run_ticks(1);
  lose = false;
  ASSERT_EQ(data_from(e.link, true).back().payload_len, 5u);
  tf::Options o;
  o.has_timestamps = true;
  o.ts_val = ts_recent - 1000;
  o.ts_ecr = last.opt.ts_val;
  tf::Header h{0, 0, e.s->rcv_nxt().value(), e.s->snd_nxt().value(), uint8_t(tf::kAck_ | tf::kPsh), 1000};
  e.link.inject(false, craft(e.c->local(), e.c->remote(), h, o, "WORLD"));
  EXPECT_EQ(e.link.b.env.get(Counter::tcp_paws_rejected), 1u);
  EXPECT_EQ(e.server.received, "hello");
  EXPECT_EQ(e.s->readable(), 0u);
  ASSERT_TRUE(e.link.run_until([&] { return e.server.received == "helloWORLD"; }, Link::kTicksPerSecond));
  // Delivered by the client's own retransmission: the server's ACK for the rejected copy is a
  // duplicate, and with one segment out that is enough (RFC 5827 early retransmit).
  EXPECT_GE(e.link.a.env.get(Counter::tcp_retransmits), 1u);
  e.close_and_drain();
  EXPECT_EQ(e.link.ledger.live, 0);
}

// --- resets for segments that reach no connection ---

struct ClosedPort : ::testing::Test {
  Link link;
  const Endpoint from{kIpA, 33333}, to{kIpB, 81};
  // Injects `w` at B and returns what B answered.
  std::vector<Seen> answer(const Wire& w) {
    const size_t before = link.log.size();
    link.inject(false, w);
    std::vector<Seen> out;
    for (size_t i = before; i < link.log.size(); ++i) out.push_back(link.log[i].second);
    return out;
  }
};

TEST_F(ClosedPort, SegmentWithAck_GetsRstAtItsAckNumber) {
  // RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>.
  const auto got = answer(craft(from, to, {0, 0, 1000, 0xdeadbeef, tf::kAck_, 100}, {}, "data"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.flags, tf::kRst);
  EXPECT_EQ(got[0].h.seq, 0xdeadbeefu);
  EXPECT_EQ(got[0].h.src_port, 81);
  EXPECT_EQ(got[0].h.dst_port, 33333);
  EXPECT_EQ(got[0].payload_len, 0u);
  EXPECT_EQ(link.b.env.get(Counter::tcp_rst_sent), 1u);
}

TEST_F(ClosedPort, SynWithoutAck_GetsRstAckCoveringTheSyn) {
  // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; the SYN counts one.
  const auto got = answer(craft(from, to, {0, 0, 0xfffffffe, 0, tf::kSyn, 100}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.flags, tf::kRst | tf::kAck_);
  EXPECT_EQ(got[0].h.seq, 0u);
  EXPECT_EQ(got[0].h.ack, 0xffffffffu);
}

TEST_F(ClosedPort, DataAndFinWithoutAck_GetsRstAckCoveringBoth) {
  const auto got = answer(craft(from, to, {0, 0, 0xfffffff0, 0, uint8_t(tf::kFin | tf::kPsh), 100}, {}, "0123456789abcdefXYZ"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.flags, tf::kRst | tf::kAck_);
  EXPECT_EQ(got[0].h.ack, 0xfffffff0u + 19 + 1) << "payload and FIN, across the wrap";
}

TEST_F(ClosedPort, RstIsNeverAnswered) {
  EXPECT_TRUE(answer(craft(from, to, {0, 0, 5, 6, uint8_t(tf::kRst | tf::kAck_), 0})).empty());
  EXPECT_TRUE(answer(craft(from, to, {0, 0, 5, 0, tf::kRst, 0})).empty());
  EXPECT_EQ(link.b.env.get(Counter::tcp_rst_sent), 0u);
  EXPECT_EQ(link.ledger.live, 0);
}

}  // namespace
}  // namespace redline::testing
