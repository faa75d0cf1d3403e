// Loss recovery: fast retransmit on three duplicate ACKs and NewReno's partial ACKs without SACK
// (RFC 5681 §3.2, RFC 6582 §3.2), SACK recovery that resends exactly the holes (RFC 6675 §5),
// and a bulk transfer whose sequence numbers cross 2^32. Which segments were resent is read
// from link.log; the link drops chosen data segments once with DropNth.
#include "tests/unit/tcp_pair.hpp"

namespace redline::testing {
namespace {

using net::Counter;

tcp::Settings no_sack() {
  tcp::Settings s;
  s.sack = false;
  return s;
}

// A client sends `bytes` to a server that takes everything, losing the n-th data segments once.
struct LossyTransfer : TcpPair {
  LossyTransfer(const tcp::Settings& s, std::set<int> nth, size_t bytes) : TcpPair(s, s), drops(true, std::move(nth)) {
    c = open();
    link.drop_rule = [this](const Seen& seen, bool from_a) { return drops(seen, from_a); };
    client.to_send = pattern(bytes);
    client.pump(*c);
    EXPECT_TRUE(link.run_until([&] { return server.received.size() == bytes; }, 100'000));
    link.run_ticks(1000);
    EXPECT_TRUE(same(server.received, client.to_send));
  }
  uint64_t a(Counter k) const { return link.a.env.get(k); }
  // The tick segment `r` was sent again (0: never).
  uint64_t resend_of(const Range& r) const {
    int n = 0;
    for (const Seen& s : data_from(link, true))
      if (s.h.seq == r.first && ++n == 2) return s.at;
    return 0;
  }
  // The tick the server sent its k-th ACK asking for `seq` (the first is the ACK itself, the
  // next ones are duplicates); 0 if it did not.
  uint64_t ack_for(uint32_t seq, int k) const {
    int n = 0;
    for (const Seen& ack : pure_acks_from(link, false))
      if (ack.h.ack == seq && ++n == k) return ack.at;
    return 0;
  }
  tcp::Connection* c = nullptr;
  DropNth drops;
};

TEST(TcpRecovery, NoSack_ThreeDupAcksFastRetransmitTheLostSegmentOnly) {
  // RFC 5681 §3.2: the third duplicate ACK resends the segment at SND.UNA at once, long before
  // the 200 ms RTO; nothing else is resent.
  LossyTransfer t(no_sack(), {3}, 30 * 1448);
  ASSERT_FALSE(t.c->sack_enabled());
  ASSERT_EQ(t.drops.dropped.size(), 1u);
  EXPECT_EQ(retransmitted(t.link, true), t.drops.dropped);
  const uint64_t third_dup = t.ack_for(t.drops.dropped[0].first, 4);
  ASSERT_NE(third_dup, 0u);
  EXPECT_EQ(t.resend_of(t.drops.dropped[0]), third_dup + 1) << "resent as the third duplicate ACK arrives";
  EXPECT_EQ(t.a(Counter::tcp_fast_retransmits), 1u);
  EXPECT_EQ(t.a(Counter::tcp_retransmits), 1u);
  EXPECT_EQ(t.a(Counter::tcp_timeouts), 0u);
  EXPECT_FALSE(t.c->in_recovery());
  EXPECT_EQ(t.c->stats().fast_retransmits, 1u);
  t.close_and_drain();
  EXPECT_EQ(t.link.ledger.live, 0);
}

TEST(TcpRecovery, NoSack_PartialAckResendsTheNextLossThenRecoveryEnds) {
  // RFC 6582 §3.2: two losses in one window. The ACK for the first resend is partial (below
  // `recover`): the next unacknowledged segment goes at once (step 5), in the same recovery;
  // the ACK covering `recover` ends it (step 3) with cwnd deflated to at most ssthresh.
  LossyTransfer t(no_sack(), {3, 6}, 40 * 1448);
  ASSERT_EQ(t.drops.dropped.size(), 2u);
  EXPECT_EQ(retransmitted(t.link, true), t.drops.dropped);
  // The second resend follows the partial ACK (ack = the second hole) on its arrival.
  const uint64_t third_dup = t.ack_for(t.drops.dropped[0].first, 4);
  const uint64_t partial_ack = t.ack_for(t.drops.dropped[1].first, 1);
  ASSERT_NE(third_dup, 0u);
  ASSERT_NE(partial_ack, 0u);
  EXPECT_EQ(t.resend_of(t.drops.dropped[0]), third_dup + 1);
  EXPECT_GT(partial_ack, third_dup + 1);
  EXPECT_EQ(t.resend_of(t.drops.dropped[1]), partial_ack + 1) << "resent as the partial ACK arrives";
  EXPECT_EQ(t.a(Counter::tcp_fast_retransmits), 1u) << "one recovery for both losses (RFC 6582 §4.1)";
  EXPECT_EQ(t.a(Counter::tcp_retransmits), 2u);
  EXPECT_EQ(t.a(Counter::tcp_timeouts), 0u);
  EXPECT_FALSE(t.c->in_recovery());
  EXPECT_LT(t.c->ssthresh(), 0xffffffffu);
  t.close_and_drain();
  EXPECT_EQ(t.link.ledger.live, 0);
}

TEST(TcpRecovery, Sack_ResendsExactlyTheHoles) {
  // RFC 6675: the receiver's SACK blocks tell the sender which segments arrived; the 3rd and
  // 6th (lost) are resent, and no segment that arrived is sent twice.
  LossyTransfer t({}, {3, 6}, 40 * 1448);
  ASSERT_TRUE(t.c->sack_enabled());
  EXPECT_EQ(retransmitted(t.link, true), t.drops.dropped);
  EXPECT_EQ(t.a(Counter::tcp_fast_retransmits), 1u);
  EXPECT_EQ(t.a(Counter::tcp_retransmits), 2u);
  EXPECT_EQ(t.a(Counter::tcp_timeouts), 0u);
  // The receiver described the holes: a SACK block starting right after each lost segment.
  bool sacked_after_first = false, sacked_after_second = false;
  for (const Seen& ack : pure_acks_from(t.link, false))
    for (int k = 0; k < ack.opt.sack_count; ++k) {
      sacked_after_first |= ack.opt.sack[k].left == t.drops.dropped[0].first + t.drops.dropped[0].second;
      sacked_after_second |= ack.opt.sack[k].left == t.drops.dropped[1].first + t.drops.dropped[1].second;
    }
  EXPECT_TRUE(sacked_after_first && sacked_after_second);
  EXPECT_FALSE(t.c->in_recovery());
  t.close_and_drain();
  EXPECT_EQ(t.link.ledger.live, 0);
}

TEST(TcpRecovery, Sack_LossesInSeparateWindowsEachRecoveredByTheirHolesOnly) {
  // Three holes in one flight and one in a later flight: two recoveries, four resends, each
  // exactly a lost segment.
  LossyTransfer t({}, {3, 5, 8, 60}, 150 * 1448);
  ASSERT_EQ(t.drops.dropped.size(), 4u);
  EXPECT_EQ(retransmitted(t.link, true), t.drops.dropped);
  EXPECT_EQ(t.a(Counter::tcp_fast_retransmits), 2u);
  EXPECT_EQ(t.a(Counter::tcp_retransmits), 4u);
  EXPECT_EQ(t.a(Counter::tcp_timeouts), 0u);
  t.close_and_drain();
  EXPECT_EQ(t.link.ledger.live, 0);
}

// Both ISNs just below 2^32: the transfer's sequence numbers wrap within the first 300 KB.
void transfer_across_wrap(const Impairment& imp, uint64_t seed) {
  TcpPair p({}, {}, seed);
  p.server.echo = true;
  p.server.close_on_peer_close = true;
  p.link.a.host->set_next_isn(0xffffffffu - 300'000);
  p.link.b.host->set_next_isn(0xffffffffu - 200'000);
  tcp::Connection* c = p.open();
  ASSERT_EQ(c->snd_una().value(), 0xffffffffu - 300'000 + 1);
  p.link.imp = imp;
  const size_t bytes = 1'000'000;
  p.client.to_send = pattern(bytes, uint32_t(seed));
  p.client.shutdown_after_send = true;
  p.client.pump(*c);
  ASSERT_TRUE(p.link.run_until([&] { return p.client.closed && p.server.closed; }, 3'000'000))
      << "client " << p.client.received.size() << " server " << p.server.received.size();
  EXPECT_TRUE(same(p.server.received, p.client.to_send));
  EXPECT_TRUE(same(p.client.received, p.client.to_send));
  EXPECT_EQ(p.client.error, tcp::Error::kNone);
  // Both directions really crossed 2^32: data went out both just below it and above 0.
  for (bool from_a : {true, false}) {
    bool high = false, low = false;
    for (const Seen& s : data_from(p.link, from_a)) {
      high |= s.h.seq > 0xfff00000u;
      low |= s.h.seq < 500'000u;
    }
    EXPECT_TRUE(high && low) << (from_a ? "A" : "B");
  }
  p.link.run_ticks(61 * Link::kTicksPerSecond);
  EXPECT_EQ(p.link.a.host->stats().connections, 0u);
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpRecovery, SequenceWrap_MegabyteCrosses2To32Intact) { transfer_across_wrap({}, 11); }
TEST(TcpRecovery, SequenceWrap_MegabyteCrosses2To32UnderLossAndReordering) {
  transfer_across_wrap({.loss = 0.02, .reorder = 0.05, .delay_ticks = 5, .reorder_extra_ticks = 7}, 12);
}

}  // namespace
}  // namespace redline::testing

namespace redline::testing {
namespace {

TEST(TcpProbe, LostTail_RecoveredByTailLossProbeWithoutTimeout) {
  // RFC 8985 §7: the last segments of a burst are lost, so no later segment draws duplicate
  // ACKs. After 2 SRTT the sender probes with its last segment; the peer's ACK (SACKing it)
  // starts recovery of the rest, well before the 200 ms RTO.
  Link link;
  App client, server;
  ASSERT_TRUE(link.b.host->listen(80, server));
  tcp::Connection* c = link.a.host->connect({kIpB, 80}, client);
  ASSERT_TRUE(link.run_until([&] { return client.connected && server.connected; }, 1000));
  // An RTT sample first (the probe needs one), then 10 segments of which the last 3 are lost.
  client.to_send = pattern(1000);
  client.pump(*c);
  ASSERT_TRUE(link.run_until([&] { return server.received.size() == 1000; }, 1000));
  link.run_ticks(500);
  int data_segments = 0;
  link.drop_rule = [&](const Seen& s, bool from_a) {
    if (!from_a || s.payload_len == 0) return false;
    ++data_segments;
    return data_segments >= 8 && data_segments <= 10;
  };
  client.to_send += pattern(10 * 1448, 3);
  client.pump(*c);
  const uint64_t t0 = link.now;
  ASSERT_TRUE(link.run_until([&] { return server.received.size() == client.to_send.size(); }, 2 * Link::kTicksPerSecond));
  EXPECT_TRUE(same(server.received, client.to_send));
  EXPECT_EQ(link.a.env.get(net::Counter::tcp_timeouts), 0u);
  EXPECT_GE(link.a.env.get(net::Counter::tcp_tail_probes), 1u);
  EXPECT_LT(link.now - t0, 200 * Link::kTicksPerSecond / 1000) << "recovered only by the RTO";
}

}  // namespace
}  // namespace redline::testing

namespace redline::testing {
namespace {

TEST(TcpIcmp, PortUnreachableWhileConnecting_EndsTheConnectAsUnreachable) {
  // RFC 1122 §4.2.3.9: an unreachable destination ends a connection attempt; the application
  // hears "unreachable", not a timeout a minute later.
  Link link;
  App client;
  link.drop_rule = [](const Seen&, bool) { return true; };  // the SYN never arrives
  tcp::Connection* c = link.a.host->connect({kIpB, 80}, client);
  ASSERT_NE(c, nullptr);
  link.run_ticks(1);
  const Seen syn = link.log.at(0).second;
  // An error quoting a sequence number we never sent is ignored (RFC 5927 §4.1).
  EXPECT_TRUE(link.a.host->icmp_error(c->local(), c->remote(), syn.h.seq + 100, 3, 3, 0));
  EXPECT_FALSE(client.closed);
  EXPECT_TRUE(link.a.host->icmp_error(c->local(), c->remote(), syn.h.seq, 3, 3, 0));
  EXPECT_TRUE(client.closed);
  EXPECT_EQ(client.error, tcp::Error::kUnreachable);
  EXPECT_EQ(link.a.host->stats().connections, 0u);
  // No connection: not ours (the kernel exception path may take it).
  EXPECT_FALSE(link.a.host->icmp_error({kIpA, 40000}, {kIpB, 80}, 0, 3, 3, 0));
}

TEST(TcpIcmp, FragmentationNeeded_LowersTheMssAndResendsSmaller) {
  // RFC 1191 §6: a router says the path carries 1280-byte datagrams; what was in flight goes
  // again in segments that fit: 1280 - 40 - 12 (timestamps) = 1228 bytes.
  Link link;
  App client, server;
  ASSERT_TRUE(link.b.host->listen(80, server));
  tcp::Connection* c = link.a.host->connect({kIpB, 80}, client);
  ASSERT_TRUE(link.run_until([&] { return client.connected && server.connected; }, 1000));
  bool black_hole = true;  // the path drops what is too big
  link.drop_rule = [&](const Seen& s, bool from_a) { return black_hole && from_a && s.payload_len > 1228; };
  client.to_send = pattern(20'000);
  client.pump(*c);
  link.run_ticks(2);
  EXPECT_TRUE(link.a.host->icmp_error(c->local(), c->remote(), c->snd_una().value(), 3, 4, 1280));
  EXPECT_EQ(c->mss(), 1228);
  ASSERT_TRUE(link.run_until([&] { return server.received.size() == 20'000; }, 2 * Link::kTicksPerSecond));
  EXPECT_TRUE(same(server.received, client.to_send));
  EXPECT_EQ(link.a.env.get(net::Counter::tcp_timeouts), 0u) << "the error, not the RTO, should resend";
  // A larger "MTU" never raises the MSS, and one below 576 is not believed.
  EXPECT_TRUE(link.a.host->icmp_error(c->local(), c->remote(), c->snd_una().value(), 3, 4, 300));
  EXPECT_EQ(c->mss(), 1228);
}

}  // namespace
}  // namespace redline::testing
