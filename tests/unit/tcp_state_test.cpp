// The connection state machine beyond the plain handshake and close (RFC 9293 §3.5-3.6):
// simultaneous open and close, half-close, TIME-WAIT expiry, reuse (RFC 6191) and recycling,
// the SYN backlog and the connection table's limit, and the receive window of a connection whose
// peer chose an ISN in the upper half of the sequence space.
#include <array>

#include "tests/unit/tcp_pair.hpp"

namespace redline::testing {
namespace {

using tcp::State;

tcp::Settings with_ports(uint16_t lo, uint16_t hi, tcp::Settings s = {}) {
  s.ephemeral_low = lo;
  s.ephemeral_high = hi;
  return s;
}

TEST(TcpState, SimultaneousOpen_BothSidesReachEstablished) {
  // RFC 9293 §3.5 figure 8: each side's SYN crosses the other's; both go SYN-SENT ->
  // SYN-RECEIVED (answering with SYN-ACK, same ISN) -> ESTABLISHED. No RST, no listener.
  Link link(with_ports(5000, 5000), with_ports(6000, 6000));
  App a, b;
  tcp::Connection* ca = link.a.host->connect({kIpB, 6000}, a);
  tcp::Connection* cb = link.b.host->connect({kIpA, 5000}, b);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cb, nullptr);
  ASSERT_EQ(ca->local().port, 5000);
  ASSERT_EQ(cb->local().port, 6000);
  ASSERT_TRUE(link.run_until([&] { return a.connected && b.connected; }, 100));
  EXPECT_EQ(ca->state(), State::kEstablished);
  EXPECT_EQ(cb->state(), State::kEstablished);
  for (bool from_a : {true, false}) {
    const auto syns = sent_by(link, from_a, [](const Seen& s) { return s.has(tf::kSyn); });
    ASSERT_EQ(syns.size(), 2u) << "a SYN, then a SYN-ACK";
    EXPECT_FALSE(syns[0].has(tf::kAck_));
    EXPECT_TRUE(syns[1].has(tf::kAck_));
    EXPECT_EQ(syns[0].h.seq, syns[1].h.seq) << "the SYN-ACK repeats the SYN's ISN";
    EXPECT_TRUE(sent_by(link, from_a, [](const Seen& s) { return s.has(tf::kRst); }).empty());
  }
  EXPECT_TRUE(ca->timestamps_enabled() && cb->timestamps_enabled());
  EXPECT_TRUE(ca->sack_enabled() && cb->sack_enabled());
  // The connection carries data both ways.
  a.to_send = pattern(20'000, 1);
  b.to_send = pattern(30'000, 2);
  a.pump(*ca);
  b.pump(*cb);
  ASSERT_TRUE(link.run_until([&] { return a.received.size() == 30'000 && b.received.size() == 20'000; }, 10'000));
  EXPECT_TRUE(same(b.received, a.to_send));
  EXPECT_TRUE(same(a.received, b.to_send));
  ca->close();
  cb->close();
  link.run_ticks(61 * Link::kTicksPerSecond);
  EXPECT_EQ(link.a.host->stats().connections, 0u);
  EXPECT_EQ(link.b.host->stats().connections, 0u);
  EXPECT_EQ(link.ledger.live, 0);
}

TEST(TcpState, SimultaneousClose_BothSidesPassClosingIntoTimeWait) {
  // RFC 9293 §3.6 figure 13: both FINs cross; each side goes FIN-WAIT-1 -> CLOSING ->
  // TIME-WAIT, and both wait out 2 MSL.
  TcpPair p;
  tcp::Connection* c = p.open();
  tcp::Connection* s = p.server.conn;
  c->shutdown();
  s->shutdown();
  EXPECT_EQ(c->state(), State::kFinWait1);
  EXPECT_EQ(s->state(), State::kFinWait1);
  ASSERT_TRUE(p.link.run_until([&] { return c->state() == State::kClosing && s->state() == State::kClosing; }, 10));
  ASSERT_TRUE(p.link.run_until([&] { return c->state() == State::kTimeWait && s->state() == State::kTimeWait; }, 10));
  EXPECT_EQ(p.link.a.host->stats().time_wait, 1u);
  EXPECT_EQ(p.link.b.host->stats().time_wait, 1u);
  EXPECT_TRUE(p.client.closed && p.server.closed);
  EXPECT_EQ(p.client.error, tcp::Error::kNone);
  EXPECT_EQ(p.server.error, tcp::Error::kNone);
  for (bool from_a : {true, false})
    EXPECT_EQ(sent_by(p.link, from_a, [](const Seen& x) { return x.has(tf::kFin); }).size(), 1u) << "no FIN resent";
  p.link.run_ticks(60 * Link::kTicksPerSecond + 10);
  EXPECT_EQ(p.link.a.host->stats().connections, 0u);
  EXPECT_EQ(p.link.b.host->stats().connections, 0u);
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpState, HalfClose_ClientShutdownStillReceivesTheServersData) {
  // RFC 9293 §3.6: after its FIN the client is in FIN-WAIT-2 and still receives until the
  // server's FIN.
  TcpPair p;
  tcp::Connection* c = p.open();
  c->shutdown();
  ASSERT_TRUE(p.link.run_until([&] { return p.server.peer_closed && c->state() == State::kFinWait2; }, 100));
  EXPECT_EQ(p.server.conn->state(), State::kCloseWait);
  EXPECT_EQ(c->send("x", 1), 0u) << "nothing more may be sent after shutdown";
  p.server.to_send = pattern(300'000);
  p.server.shutdown_after_send = true;
  p.server.pump(*p.server.conn);
  ASSERT_TRUE(p.link.run_until([&] { return p.client.received.size() == 300'000; }, 100'000));
  EXPECT_TRUE(same(p.client.received, p.server.to_send));
  ASSERT_TRUE(p.link.run_until([&] { return p.client.closed && p.server.closed; }, 1000));
  EXPECT_EQ(p.client.error, tcp::Error::kNone);
  EXPECT_EQ(p.server.error, tcp::Error::kNone);
  EXPECT_EQ(p.link.a.host->stats().time_wait, 1u);  // the client closed first
  p.link.run_ticks(60 * Link::kTicksPerSecond + 10);
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpState, TimeWait_EndsAfterTimeWaitMs) {
  tcp::Settings sa;
  sa.time_wait_ms = 5000;
  TcpPair p(sa);
  p.server.close_on_peer_close = true;
  tcp::Connection* c = p.open();
  c->close();
  ASSERT_TRUE(p.link.run_until([&] { return c->state() == State::kTimeWait; }, 100));
  const uint64_t entered = p.link.now;
  ASSERT_TRUE(p.link.run_until([&] { return p.link.a.host->stats().time_wait == 0; }, 100'000));
  EXPECT_EQ(p.link.now - entered, p.link.a.host->ms_to_ticks(5000));
  EXPECT_EQ(p.link.a.host->stats().connections, 0u);
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpState, TimeWait_NewSynWithHigherTimestampReusesIt) {
  // RFC 6191 §2: the server closed first and holds TIME-WAIT; the client, one second later,
  // connects again from the same port. Its SYN's TSval is above TS.Recent, so the new
  // connection replaces the TIME-WAIT one. Tried from several ports: the outcome may not hang
  // on how a port's hash falls.
  for (uint16_t port = 40000; port < 40008; ++port) {
    SCOPED_TRACE(port);
    TcpPair p(with_ports(port, port));
    p.client.close_on_peer_close = true;
    p.open();
    p.server.conn->close();
    ASSERT_TRUE(p.link.run_until([&] { return p.link.b.host->stats().time_wait == 1 && p.client.closed; }, 1000));
    ASSERT_EQ(p.link.a.host->stats().connections, 0u);
    p.link.run_ticks(Link::kTicksPerSecond);
    App again;
    tcp::Connection* c = p.link.a.host->connect({kIpB, 80}, again);
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(c->local().port, port);
    ASSERT_TRUE(p.link.run_until([&] { return again.connected && p.server.accepted == 2; }, 100));
    EXPECT_EQ(p.link.b.env.get(net::Counter::tcp_time_wait_reused), 1u);
    EXPECT_EQ(p.link.b.host->stats().time_wait, 0u);
    EXPECT_EQ(p.server.accepted, 2);
    EXPECT_EQ(p.link.a.env.get(net::Counter::tcp_timeouts), 0u) << "the SYN was taken at once";
    c->abort();
    p.link.run_ticks(10);
    EXPECT_EQ(p.link.ledger.live, 0);
  }
}

TEST(TcpState, TimeWait_OldSynDoesNotReuseIt) {
  // RFC 6191 §2: a SYN whose TSval is not above TS.Recent may be an old duplicate: the
  // TIME-WAIT connection stays and answers with an ACK.
  TcpPair p(with_ports(40000, 40000));
  p.client.close_on_peer_close = true;
  tcp::Connection* c = p.open();
  const Endpoint client_ep = c->local();
  p.server.conn->close();
  ASSERT_TRUE(p.link.run_until([&] { return p.link.b.host->stats().time_wait == 1 && p.client.closed; }, 1000));
  const Seen last = sent_by(p.link, true, [](const Seen&) { return true; }).back();
  tf::Options o;
  o.has_timestamps = true;
  o.ts_val = last.opt.ts_val - 10;
  o.mss = 1460;
  p.link.inject(false, craft(client_ep, {kIpB, 80}, {0, 0, last.h.seq + 1000, 0, tf::kSyn, 65535}, o));
  EXPECT_EQ(p.link.b.env.get(net::Counter::tcp_time_wait_reused), 0u);
  EXPECT_EQ(p.link.b.host->stats().time_wait, 1u);
  EXPECT_EQ(p.server.accepted, 1);
}

TEST(TcpState, TimeWaitMax_RecyclesTheOldest) {
  tcp::Settings sa = with_ports(5001, 5010);
  sa.time_wait_max = 2;
  TcpPair p(sa);
  p.server.close_on_peer_close = true;
  std::array<App, 3> apps;
  for (App& app : apps) {
    tcp::Connection* c = p.link.a.host->connect({kIpB, 80}, app);
    ASSERT_TRUE(p.link.run_until([&] { return app.connected && p.link.b.host->stats().connections == 1; }, 100));
    c->close();
    ASSERT_TRUE(p.link.run_until([&] { return app.closed && p.link.b.host->stats().connections == 0; }, 100));
  }
  EXPECT_EQ(p.link.a.host->stats().time_wait, 2u);
  EXPECT_EQ(p.link.a.env.get(net::Counter::tcp_time_wait_recycled), 1u);
  std::set<uint16_t> ports;
  p.link.a.host->for_each([&](const tcp::Connection& c) {
    EXPECT_EQ(c.state(), State::kTimeWait);
    ports.insert(c.local().port);
  });
  EXPECT_EQ(ports, (std::set<uint16_t>{5002, 5003})) << "the first connection's TIME-WAIT went";
}

TEST(TcpState, SynReceived_RetransmittedSynGetsTheSynAckAgain) {
  // The SYN-ACK is lost; the client's SYN, retransmitted after 1 s, draws the SYN-ACK at once
  // (the server's own SYN-ACK timer is set to 3 s here so that it cannot be what answers).
  tcp::Settings sb;
  sb.initial_rto_ms = 3000;
  TcpPair p({}, sb);
  bool lose = true;
  p.link.drop_rule = [&](const Seen& s, bool from_a) { return lose && !from_a && s.has(tf::kSyn); };
  tcp::Connection* c = p.link.a.host->connect({kIpB, 80}, p.client);
  p.link.run_ticks(10);
  lose = false;
  ASSERT_TRUE(p.link.run_until([&] { return p.client.connected && p.server.connected; }, 2 * Link::kTicksPerSecond));
  EXPECT_EQ(p.link.now, 10'000u + 3) << "SYN again at 1 s, SYN-ACK, ACK";
  const auto synacks = sent_by(p.link, false, [](const Seen& s) { return s.has(tf::kSyn); });
  ASSERT_EQ(synacks.size(), 2u);
  EXPECT_EQ(synacks[1].at, 10'001u);
  EXPECT_EQ(synacks[0].h.seq, synacks[1].h.seq);
  EXPECT_TRUE(sent_by(p.link, false, [](const Seen& s) { return !s.has(tf::kSyn); }).empty())
      << "no bare ACK for the SYN";
  EXPECT_EQ(c->state(), State::kEstablished);
}

TEST(TcpState, SynBacklogWithCookiesOff_ExtraSynsDroppedUntilRoomFrees) {
  // Two half-open connections fill a backlog of 2 (the SYN-ACKs are lost); with SYN cookies off
  // a third SYN is dropped without an answer, and gets in by retransmission once the handshakes
  // complete. (With cookies, on by default, it is answered: tcp_syn_cookie_test.cpp.)
  tcp::Settings sb;
  sb.syn_cookies = false;
  TcpPair p({}, sb);
  p.link.b.host->unlisten(80);
  ASSERT_TRUE(p.link.b.host->listen(80, p.server, {}, 2));
  bool hold = true;
  p.link.drop_rule = [&](const Seen& s, bool from_a) { return hold && !from_a && s.has(tf::kSyn); };
  std::array<App, 3> apps;
  for (App& app : apps) ASSERT_NE(p.link.a.host->connect({kIpB, 80}, app), nullptr);
  p.link.run_ticks(10);
  EXPECT_EQ(p.link.b.host->stats().connections, 2u);
  EXPECT_EQ(p.link.b.env.get(net::Counter::tcp_backlog_full), 1u);
  EXPECT_EQ(sent_by(p.link, false, [](const Seen& s) { return s.has(tf::kSyn); }).size(), 2u);
  EXPECT_EQ(p.link.b.env.get(net::Counter::tcp_rst_sent), 0u) << "a full backlog drops, it does not refuse";
  hold = false;
  ASSERT_TRUE(p.link.run_until([&] { return apps[0].connected && apps[1].connected && apps[2].connected && p.server.accepted == 3; },
                               10 * Link::kTicksPerSecond));
  EXPECT_EQ(p.link.b.host->stats().connections, 3u);
}

TEST(TcpState, MaxConnections_RefusesTheSynBeyondTheTable) {
  tcp::Settings sb;
  sb.max_connections = 2;
  TcpPair p({}, sb);
  std::array<App, 3> apps;
  std::array<tcp::Connection*, 3> conns{};
  for (int i = 0; i < 2; ++i) {
    conns[i] = p.link.a.host->connect({kIpB, 80}, apps[i]);
    ASSERT_TRUE(p.link.run_until([&] { return apps[i].connected; }, 100));
  }
  conns[2] = p.link.a.host->connect({kIpB, 80}, apps[2]);
  p.link.run_ticks(10);
  EXPECT_FALSE(apps[2].connected);
  EXPECT_EQ(p.link.b.env.get(net::Counter::tcp_table_full), 1u);
  EXPECT_EQ(p.link.b.host->stats().connections, 2u);
  const uint16_t third = conns[2]->local().port;
  EXPECT_TRUE(sent_by(p.link, false, [&](const Seen& s) { return s.h.dst_port == third; }).empty())
      << "no SYN-ACK and no RST for the SYN beyond the table";
  // One connection ends: the third's retransmitted SYN finds room.
  p.server.close_on_peer_close = true;
  conns[0]->close();
  ASSERT_TRUE(p.link.run_until([&] { return apps[2].connected; }, 10 * Link::kTicksPerSecond));
  EXPECT_EQ(p.link.b.host->stats().connections, 2u);
}

TEST(TcpState, PeerIsnInUpperHalf_OutOfWindowDataIsStillDropped) {
  // The receive window starts at the peer's ISN + 1, wherever that lies in the sequence space:
  // data a megabyte beyond it (far past the 256 KiB buffer) is out of window (RFC 9293
  // §3.10.7.4), and the window advertised never exceeds the buffer.
  for (uint32_t isn : {0x7fffff00u, 0x80000000u, 0xc0000000u, 0xffffff00u}) {
    SCOPED_TRACE(isn);
    TcpPair p;
    p.link.b.host->set_next_isn(isn);
    tcp::Connection* c = p.open();
    ASSERT_EQ(c->rcv_nxt(), net::TcpSeq(isn + 1));
    for (const Seen& s : sent_by(p.link, true, [](const Seen& x) { return !x.has(tf::kSyn); }))
      EXPECT_LE(uint32_t(s.h.window) << c->recv_shift(), 256u * 1024);
    const uint64_t before = p.link.a.env.get(net::Counter::tcp_out_of_window);
    tf::Header h{0, 0, isn + 1 + 1'000'000, c->snd_nxt().value(), tf::kAck_, 1000};
    p.link.inject(true, craft(c->remote(), c->local(), h, {}, "far beyond the window"));
    EXPECT_EQ(p.link.a.env.get(net::Counter::tcp_out_of_window), before + 1);
    EXPECT_EQ(c->ooo_segments(), 0u);
    EXPECT_EQ(c->readable(), 0u);
    p.link.run_ticks(10);
    p.close_and_drain();
    EXPECT_EQ(p.link.ledger.live, 0);
  }
}

}  // namespace
}  // namespace redline::testing
