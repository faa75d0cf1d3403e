// Peers that lie in their options or starve the host of buffers, and applications that stop
// listening mid-handshake: the defects issue 21 found by reading and by trying. Each test here
// failed before its fix. Segments are crafted as a hostile client would send them, from an
// address of its own, and the server's answers are read off the link (they go to no host).
#include <array>

#include "tests/unit/tcp_pair.hpp"

namespace redline::testing {
namespace {

using net::Counter;
using tcp::State;

constexpr Endpoint kAttacker{0x0a000063, 40000};  // 10.0.0.99: no host on the link
constexpr Endpoint kServer{kIpB, 80};

// A raw client of B's echo server: crafts its own segments, reads B's answers from the log.
struct RawClient {
  explicit RawClient(tcp::Settings sb = {}) : link({}, sb) {
    server.echo = true;
    server.close_on_peer_close = true;
    EXPECT_TRUE(link.b.host->listen(80, server));
    // B's answers are logged, then lost: nothing on the link owns 10.0.0.99.
    link.drop_rule = [](const Seen& s, bool from_a) { return !from_a && s.dst_ip == kAttacker.ip; };
  }
  // SYN with `opt`, then the ACK of B's SYN-ACK (echoing its timestamp when it sent one).
  bool handshake(const tf::Options& opt) {
    iss = 1000;
    link.inject(false, craft(kAttacker, kServer, {0, 0, iss, 0, tf::kSyn, 65535}, opt));
    const auto synacks = from_server([](const Seen& s) { return s.has(tf::kSyn) && s.has(tf::kAck_); });
    if (synacks.empty()) return false;
    snd_nxt = iss + 1;
    rcv_nxt = synacks.back().h.seq + 1;
    ts_echo = synacks.back().opt.ts_val;
    timestamps = opt.has_timestamps;
    send(tf::kAck_);
    return server.conn != nullptr;
  }
  void send(uint8_t flags, std::string_view payload = {}) {
    tf::Options o;
    if (timestamps) {
      o.has_timestamps = true;
      o.ts_val = ++ts_val;
      o.ts_ecr = ts_echo;
    }
    link.inject(false, craft(kAttacker, kServer, {0, 0, snd_nxt, rcv_nxt, flags, 65535}, o, payload));
    snd_nxt += uint32_t(payload.size()) + ((flags & tf::kFin) ? 1 : 0);
  }
  // Acknowledges everything B sent so far (a cooperative receiver).
  void ack_all() {
    for (const Seen& s : from_server([](const Seen&) { return true; })) {
      const uint32_t end = s.h.seq + s.payload_len + (s.has(tf::kFin) ? 1 : 0);
      if (net::TcpSeq(end) > net::TcpSeq(rcv_nxt)) rcv_nxt = end;
      if (s.opt.has_timestamps) ts_echo = s.opt.ts_val;
    }
    send(tf::kAck_);
  }
  template <typename Pred>
  std::vector<Seen> from_server(Pred&& p) const {
    return sent_by(link, false, [&](const Seen& s) { return s.dst_ip == kAttacker.ip && p(s); });
  }
  uint32_t echoed() const {
    uint32_t n = 0;
    for (const Seen& s : from_server([](const Seen& s) { return s.payload_len > 0; })) n += s.payload_len;
    return n;
  }
  Link link;
  App server;
  uint32_t iss = 0, snd_nxt = 0, rcv_nxt = 0, ts_val = 100, ts_echo = 0;
  bool timestamps = false;
};

// Echoes 300 bytes over a connection whose SYN carried `opt`; returns the largest payload B sent.
uint32_t echo_300(RawClient& r, const tf::Options& opt) {
  EXPECT_TRUE(r.handshake(opt));
  r.send(tf::kAck_ | tf::kPsh, std::string(300, 'x'));
  for (int i = 0; i < 200 && r.echoed() < 300; ++i) {
    r.link.run_ticks(5);
    r.ack_all();
  }
  EXPECT_EQ(r.echoed(), 300u);
  uint32_t largest = 0;
  for (const Seen& s : r.from_server([](const Seen& s) { return s.payload_len > 0; }))
    largest = std::max(largest, s.payload_len);
  return largest;
}

TEST(TcpHostilePeer, SynWithMssZero_TakesTheDefault536) {
  // Linux ignores an MSS option of 0 (tcp_parse_options): the peer said nothing, so 536.
  RawClient r;
  tf::Options o;
  o.mss = 0;
  const uint32_t largest = echo_300(r, o);
  ASSERT_NE(r.server.conn, nullptr);
  EXPECT_EQ(r.server.conn->mss(), tcp::kDefaultMss);
  EXPECT_EQ(largest, 300u);
  EXPECT_EQ(r.link.b.env.get(Counter::tcp_no_buffer), 0u);
}

TEST(TcpHostilePeer, TinyMssWithTimestamps_FloorsAtTheMinimumAndNeverWraps) {
  // An MSS of 4 with timestamps once made mss - 12 wrap to ~65 525 (segments far past the MTU).
  RawClient r;
  tf::Options o;
  o.mss = 4;
  o.has_timestamps = true;
  o.ts_val = 100;
  const uint32_t largest = echo_300(r, o);
  ASSERT_NE(r.server.conn, nullptr);
  EXPECT_EQ(r.server.conn->mss(), tcp::kMinSendMss - tf::kTimestampsOptionLen);
  EXPECT_EQ(largest, uint32_t(tcp::kMinSendMss - tf::kTimestampsOptionLen));
  // Every segment's options and payload fit in the floor's 48 bytes beside the fixed headers.
  for (const Seen& s : r.from_server([](const Seen& s) { return s.payload_len > 0; }))
    EXPECT_LE(s.payload_len + tf::options_len(s.opt), tcp::kMinSendMss);
}

TEST(TcpHostilePeer, MssOne_WithoutTimestamps_FloorsAt48) {
  RawClient r;
  tf::Options o;
  o.mss = 1;
  EXPECT_EQ(echo_300(r, o), uint32_t(tcp::kMinSendMss));
  EXPECT_EQ(r.server.conn->mss(), tcp::kMinSendMss);
}

TEST(TcpHostilePeer, SackBlocksInADataSegment_FitBesideAFullPayload) {
  // A data segment sent while out-of-order data is held carries SACK blocks; beside a full MSS
  // of payload there is no room for them, so they are left out rather than pushing the frame
  // past the MTU.
  TcpPair p;
  tcp::Connection* c = p.open();
  tcp::Connection* s = p.server.conn;
  ASSERT_NE(s, nullptr);
  // The client holds a segment beyond a hole in what the server sends ...
  p.link.drop_rule = DropNth(false, {1});
  p.server.to_send = pattern(3000);
  p.server.pump(*s);
  p.link.run_ticks(3);
  ASSERT_GT(c->ooo_segments(), 0u);
  // ... while it sends a full segment of its own.
  const size_t from = p.link.log.size();
  p.client.to_send = pattern(c->mss());
  p.client.pump(*c);
  p.link.run_ticks(2);
  bool full_seen = false;
  for (size_t i = from; i < p.link.log.size(); ++i) {
    const auto& [a, seg] = p.link.log[i];
    if (!a || seg.payload_len == 0) continue;
    EXPECT_LE(seg.payload_len + tf::options_len(seg.opt), 1460u) << "payload " << seg.payload_len;
    full_seen |= seg.payload_len == c->mss();
  }
  EXPECT_TRUE(full_seen);
  p.link.drop_rule = nullptr;
  ASSERT_TRUE(p.link.run_until([&] { return p.client.received.size() == 3000; }, 10'000));
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpHostilePeer, SendWithNoBuffersAndNothingInFlight_GetsOnWritableLater) {
  // send() found no buffer and nothing is in flight, so no ACK will come: the host itself must
  // offer the room again once buffers are back.
  TcpPair p;
  tcp::Connection* c = p.open();
  p.link.run_ticks(100);
  ASSERT_EQ(c->unacked(), 0u);
  p.link.a.env.fail_alloc = true;
  p.client.to_send = "hello";
  p.client.pump(*c);
  EXPECT_EQ(p.client.sent, 0u);
  p.link.run_ticks(50);  // offers made while the pool is still dry find no buffer either
  EXPECT_EQ(p.client.sent, 0u);
  p.link.a.env.fail_alloc = false;
  ASSERT_TRUE(p.link.run_until([&] { return p.client.writable_events > 0 && p.client.sent == 5; }, 100));
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received == "hello"; }, 1000));
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpHostilePeer, UnlistenWithHalfOpenConnections_ResetsThemAndListeningAgainWorks) {
  // unlisten once left half-open connections pointing at the listener: listening again reset
  // its count, their later ends underflowed it, and the listener refused every SYN after.
  tcp::Settings sb;
  sb.syn_backlog = 4;
  RawClient r(sb);
  for (uint16_t i = 0; i < 3; ++i)
    r.link.inject(false, craft({kAttacker.ip, uint16_t(50000 + i)}, kServer, {0, 0, 7, 0, tf::kSyn, 65535}));
  EXPECT_EQ(r.link.b.host->stats().connections, 3u);
  r.link.b.host->unlisten(80);
  EXPECT_EQ(r.link.b.host->stats().connections, 0u) << "half-open connections reset with their listener";
  EXPECT_EQ(r.from_server([](const Seen& s) { return s.has(tf::kRst); }).size(), 3u);
  EXPECT_TRUE(r.link.b.host->listen(80, r.server));
  // A full backlog's worth of new half-open connections is still taken, then they time out ...
  for (uint16_t i = 0; i < 4; ++i)
    r.link.inject(false, craft({kAttacker.ip, uint16_t(51000 + i)}, kServer, {0, 0, 7, 0, tf::kSyn, 65535}));
  EXPECT_EQ(r.link.b.host->stats().connections, 4u);
  EXPECT_EQ(r.link.b.env.get(Counter::tcp_backlog_full), 0u);
  r.link.run_ticks(Link::kTicksPerSecond * 200);
  EXPECT_EQ(r.link.b.host->stats().connections, 0u);
  // ... and a real client still connects.
  ASSERT_TRUE(r.handshake({}));
  EXPECT_EQ(r.server.conn->state(), State::kEstablished);
  r.server.conn->abort();
  r.link.run_ticks(10);
  EXPECT_EQ(r.link.ledger.live, 0);
}

// An established pair (the server side is the target) that can prove it still works.
struct Live : Established {
  // The pair still moves data both ways, then closes in order with nothing leaked.
  void still_works() {
    client.to_send += pattern(100'000);
    client.pump(*c);
    ASSERT_TRUE(link.run_until([&] { return server.received.size() == client.to_send.size(); }, 100'000));
    close_and_drain();
    EXPECT_EQ(link.ledger.live, 0);
  }
};

TEST(TcpHostilePeer, RstFloodInTheWindow_ChallengeAcksBoundedByTheWorkersRate) {
  // RFC 5961 §7: challenge ACKs are rate-limited, so a flood of in-window RSTs is not reflected
  // segment for segment; none of them resets the connection.
  Live l;
  for (uint32_t i = 1; i <= 5000; ++i) l.link.inject(false, l.to_server(int64_t(i % 60000) + 1, tf::kRst));
  const uint64_t burst = tcp::Settings{}.challenge_ack_rate / 10;
  EXPECT_EQ(l.link.b.env.get(Counter::tcp_challenge_acks), burst);
  EXPECT_EQ(l.link.b.env.get(Counter::tcp_challenge_acks_limited), 5000 - burst);
  EXPECT_EQ(l.server_sent_since_quiet().size(), burst);
  EXPECT_EQ(l.s->state(), State::kEstablished);
  l.still_works();
}

TEST(TcpHostilePeer, BlindDataWithAnAckBeyondWhatWasSent_IsChallengedAndNeverDelivered) {
  // RFC 5961 §5.2: in-window data whose ACK acknowledges what was never sent is dropped with
  // its text, and answered (rate-limited) by a challenge ACK.
  Live l;
  const uint32_t beyond = l.s->snd_nxt().value() + 100'000;
  l.link.inject(false, l.to_server(0, tf::kAck_ | tf::kPsh, "INJECTED", beyond));
  EXPECT_EQ(l.server.received, "hello");
  EXPECT_EQ(l.link.b.env.get(Counter::tcp_challenge_acks), 1u);
  EXPECT_EQ(l.server_sent_since_quiet().size(), 1u);
  // ... and one far below SND.UNA likewise.
  const uint32_t below = l.s->snd_una().value() - 10'000'000;
  l.link.inject(false, l.to_server(0, tf::kAck_ | tf::kPsh, "INJECTED", below));
  EXPECT_EQ(l.server.received, "hello");
  EXPECT_EQ(l.link.b.env.get(Counter::tcp_challenge_acks), 2u);
  l.still_works();
  EXPECT_EQ(l.server.received.find("INJECTED"), std::string::npos);
}

TEST(TcpHostilePeer, OutOfWindowFlood_DrawsOneAckPerInterval) {
  // Linux's tcp_invalid_ratelimit: segments outside the window draw at most one ACK per 500 ms
  // per connection.
  Live l;
  for (int i = 0; i < 1000; ++i) l.link.inject(false, l.to_server(10'000'000, tf::kAck_, "x"));
  EXPECT_EQ(l.link.b.env.get(Counter::tcp_out_of_window), 1000u);
  EXPECT_EQ(l.server_sent_since_quiet().size(), 1u);
  EXPECT_EQ(l.link.b.env.get(Counter::tcp_invalid_acks_limited), 999u);
  l.link.run_ticks(l.link.b.host->ms_to_ticks(500));
  l.link.inject(false, l.to_server(10'000'000, tf::kAck_, "x"));
  EXPECT_EQ(l.server_sent_since_quiet().size(), 2u) << "a new interval: one more ACK";
  l.still_works();
}

TEST(TcpHostilePeer, SegmentFloodToAClosedPort_ResetsBoundedByTheWorkersRate) {
  RawClient r;
  for (uint16_t i = 0; i < 3000; ++i)
    r.link.inject(false, craft({kAttacker.ip, uint16_t(1000 + i)}, {kIpB, 81}, {0, 0, 1, 0, tf::kSyn, 65535}));
  const uint64_t burst = tcp::Settings{}.reset_rate / 10;
  EXPECT_EQ(r.from_server([](const Seen& s) { return s.has(tf::kRst); }).size(), burst);
  EXPECT_EQ(r.link.b.env.get(Counter::tcp_rst_limited), 3000 - burst);
  // The budget refills at its rate: a second later a closed port is refused again at once.
  r.link.run_ticks(Link::kTicksPerSecond);
  r.link.inject(false, craft({kAttacker.ip, 999}, {kIpB, 81}, {0, 0, 1, 0, tf::kSyn, 65535}));
  EXPECT_EQ(r.from_server([](const Seen& s) { return s.has(tf::kRst); }).size(), burst + 1);
}

TEST(TcpHostilePeer, RstInTimeWait_DoesNotEndIt) {
  // RFC 1337: no TIME-WAIT assassination; the 4-tuple stays protected for the full 2 MSL.
  Live l;
  tcp::Connection* c = l.c;
  l.server.close_on_peer_close = true;
  c->close();
  ASSERT_TRUE(l.link.run_until([&] { return l.server.closed && c->state() == State::kTimeWait; }, 10'000));
  const tcp::Endpoint local = c->local(), remote = c->remote();
  l.link.inject(true, craft(remote, local, {0, 0, c->rcv_nxt().value(), c->snd_nxt().value(), tf::kRst, 0}));
  EXPECT_EQ(c->state(), State::kTimeWait);
  EXPECT_EQ(l.link.a.host->stats().time_wait, 1u);
  l.link.run_ticks(l.link.a.host->ms_to_ticks(l.link.a.host->settings().time_wait_ms) + 10);
  EXPECT_EQ(l.link.a.host->stats().time_wait, 0u);
  EXPECT_EQ(l.link.ledger.live, 0);
}

// Hostile connections from 10.0.0.99 to B's server: each opened, then fed `n` 1-byte segments
// out of order (every other byte from 1000 on, so none can merge or fill a hole).
struct Hoarders {
  Hoarders(RawClient& r, uint16_t connections, uint32_t n) {
    for (uint16_t i = 0; i < connections; ++i) {
      const Endpoint src{kAttacker.ip, uint16_t(45000 + i)};
      r.link.inject(false, craft(src, kServer, {0, 0, 1000, 0, tf::kSyn, 65535}));
      const auto synack = r.from_server([&](const Seen& s) { return s.h.dst_port == src.port && s.has(tf::kSyn); });
      if (synack.empty()) continue;
      const uint32_t ack = synack.back().h.seq + 1;
      r.link.inject(false, craft(src, kServer, {0, 0, 1001, ack, tf::kAck_, 65535}));
      for (uint32_t k = 0; k < n; ++k)
        r.link.inject(false, craft(src, kServer, {0, 0, 1001 + 1000 + 2 * k, ack, tf::kAck_, 65535}, {}, "x"));
    }
  }
};

TEST(TcpHostilePeer, OneByteOutOfOrderHoarders_AreBoundedAndANewClientIsServed) {
  // Each 1-byte segment out of order pins a whole buffer: counted as such, per connection
  // (2 × the receive buffer's worth) and per worker (rx_mbufs), and pruned under pressure.
  tcp::Settings sb;
  sb.rx_mbufs = 300;
  sb.ooo_max_segments = 100'000;  // the memory bound, not the segment count, must hold them
  RawClient r(sb);
  const uint32_t per_conn_limit = uint32_t(2ull * sb.recv_buffer / r.link.b.env.rx_buffer_size());
  Hoarders h(r, 20, 1000);
  const tcp::HostStats st = r.link.b.host->stats();
  EXPECT_EQ(st.connections, 20u);
  EXPECT_LE(st.rx_buffers, sb.rx_mbufs);
  // Each hoarder prunes its own queue when it runs into the bound.
  EXPECT_GT(r.link.b.env.get(Counter::tcp_ooo_pruned), 0u);
  r.link.b.host->for_each([&](const tcp::Connection& c) { EXPECT_LE(c.ooo_segments(), per_conn_limit); });
  // A client arriving now is served in full: 200 KB each way, through the pressure.
  const uint64_t live_before = uint64_t(r.link.ledger.live);
  App client;
  App& server = r.server;
  server.conn = nullptr;
  tcp::Connection* c = r.link.a.host->connect({kIpB, 80}, client);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(r.link.run_until([&] { return client.connected && server.conn && server.conn->remote().ip == kIpA; }, 1000));
  const std::string data = pattern(200'000);
  client.to_send = data;
  client.pump(*c);
  ASSERT_TRUE(r.link.run_until([&] { return client.received.size() == data.size(); }, 200'000));
  EXPECT_TRUE(same(client.received, data));
  EXPECT_LE(r.link.b.host->stats().rx_buffers, sb.rx_mbufs);
  EXPECT_LE(uint64_t(r.link.ledger.live), live_before + sb.rx_mbufs) << "buffers held stay within the bound";
}

TEST(TcpHostilePeer, OneConnectionsHoard_StopsAtTwiceItsReceiveBuffer) {
  tcp::Settings sb;
  sb.recv_buffer = 16 * 1024;
  sb.ooo_max_segments = 100'000;
  RawClient r(sb);
  Hoarders h(r, 1, 1000);
  const uint32_t limit = uint32_t(2ull * sb.recv_buffer / r.link.b.env.rx_buffer_size());
  EXPECT_LE(r.link.b.host->stats().rx_buffers, limit);
  EXPECT_GT(r.link.b.env.get(Counter::tcp_ooo_pruned), 0u);
  EXPECT_EQ(r.link.b.env.get(Counter::tcp_rx_pressure), 0u) << "one connection's bound, not the worker's";
}

TEST(TcpHostilePeer, WorkerOutOfReceiveMemory_PrunesIdleHoardersForAClientsInOrderData) {
  // Idle hoarders fill the worker's budget with out-of-order buffers and send nothing more; a
  // client's in-order data (its application reads nothing yet) makes the worker prune them.
  tcp::Settings sb;
  sb.rx_mbufs = 300;
  RawClient r(sb);
  r.server.echo = false;
  r.server.consume = false;
  Hoarders h(r, 2, 1000);
  const uint32_t hoarded = r.link.b.host->stats().rx_buffers;
  EXPECT_GE(hoarded, 200u);  // near the 7/8 the hoarders may take
  App client;
  tcp::Connection* c = r.link.a.host->connect({kIpB, 80}, client);
  ASSERT_NE(c, nullptr);
  const std::string data = pattern(100'000);
  client.to_send = data;
  ASSERT_TRUE(r.link.run_until([&] { return client.connected; }, 1000));
  ASSERT_TRUE(r.link.run_until([&] { return c->unacked() == 0 && client.sent == data.size(); }, 100'000));
  EXPECT_GT(r.link.b.env.get(Counter::tcp_rx_pressure), 0u);
  uint32_t ooo_left = 0;
  r.link.b.host->for_each([&](const tcp::Connection& k) { ooo_left += k.ooo_segments(); });
  EXPECT_LT(ooo_left, hoarded);
  EXPECT_LE(r.link.b.host->stats().rx_buffers, sb.rx_mbufs);
  ASSERT_NE(r.server.conn, nullptr);
  EXPECT_EQ(r.server.conn->readable(), data.size());
}

TEST(TcpHostilePeer, PeersThatNeverAcknowledge_HoldAtMostTxMbufs_AndEveryoneFinishesAfterwards) {
  // Peers that never read (or whose ACKs never come) pin every buffer in the send queues: at
  // most tx_mbufs per worker. A sender stops at seven eighths of it; the last eighth is for
  // connections holding fewer than four buffers, so a newcomer can still queue a little while
  // one big sender is stuck; once the ACKs flow again on_writable brings every sender back.
  tcp::Settings sa;
  sa.tx_mbufs = 64;
  TcpPair p(sa);
  std::array<App, 9> clients;
  std::array<tcp::Connection*, 9> conns{};
  for (size_t i = 0; i < clients.size(); ++i) {
    conns[i] = p.link.a.host->connect({kIpB, 80}, clients[i]);
    ASSERT_NE(conns[i], nullptr);
    ASSERT_TRUE(p.link.run_until([&] { return clients[i].connected; }, 1000));
  }
  bool blocked = true;
  p.link.drop_rule = [&](const Seen&, bool from_a) { return blocked && !from_a; };
  const std::string data = pattern(200'000);
  clients[0].to_send = data;
  clients[0].pump(*conns[0]);
  p.link.run_ticks(2000);
  EXPECT_EQ(p.link.a.host->stats().tx_buffers, sa.tx_mbufs - sa.tx_mbufs / 8) << "one sender stops at 7/8";
  EXPECT_GT(p.link.a.env.get(Counter::tcp_tx_mem_refused), 0u);
  EXPECT_EQ(conns[8]->send("hello, still here", 17), 17u) << "a newcomer queues from the last eighth";
  // Seven more big senders: the bound holds, whoever asks.
  for (size_t i = 1; i < 8; ++i) {
    clients[i].to_send = data;
    clients[i].pump(*conns[i]);
  }
  p.link.run_ticks(2000);
  EXPECT_LE(p.link.a.host->stats().tx_buffers, sa.tx_mbufs);
  blocked = false;
  const size_t want = 8 * data.size() + 17;
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received.size() == want; }, 2'000'000));
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(clients[i].sent, data.size()) << i;
  EXPECT_TRUE(p.link.run_until([&] { return p.link.a.host->stats().tx_buffers == 0; }, 100'000))
      << "every send buffer comes back once acknowledged";
}

// Found by a 32 MiB echo through 10 % loss against Linux: each side retransmitted what the other
// already had and dropped the other's ACKs unread, until both sat in RTO backoff. Two causes,
// one test each.

TEST(TcpHostilePeer, BareAckAtTheWindowsRightEdge_IsProcessed) {
  // A peer that filled our window sends its ACKs at its SND.NXT: our window's right edge. With
  // a segment of it lost, RCV.NXT lags and the window is open, and RFC 9293's strict bound
  // (SEG.SEQ < RCV.NXT + RCV.WND) would drop those ACKs unread (Linux accepts the edge).
  tcp::Settings sb;
  sb.recv_buffer = 4096;
  RawClient r(sb);
  r.server.echo = false;
  r.server.consume = false;
  ASSERT_TRUE(r.handshake({}));
  ASSERT_EQ(r.server.conn->send("hello", 5), 5u);
  r.link.run_ticks(5);
  ASSERT_EQ(r.server.conn->unacked(), 5u);
  // 4 segments of 1024 fill the 4096-byte window; the first is lost.
  const uint32_t start = r.snd_nxt;
  for (int i = 1; i < 4; ++i) {
    r.snd_nxt = start + 1024 * uint32_t(i);
    r.send(tf::kAck_, std::string(1024, 'd'));
  }
  ASSERT_EQ(r.snd_nxt, start + 4096) << "at the right edge";
  ASSERT_EQ(r.server.conn->ooo_segments(), 3u);
  r.rcv_nxt += 5;  // acknowledges B's 5 bytes
  r.send(tf::kAck_);
  EXPECT_EQ(r.server.conn->unacked(), 0u) << "the ACK at the window's edge was dropped unread";
}

TEST(TcpHostilePeer, BareAckAfterATimeout_CarriesSndMax) {
  // A retransmission timeout pulls SND.NXT back to SND.UNA; the peer may hold everything up to
  // SND.MAX, and would take a bare ACK at SND.NXT for an old duplicate and drop it unread.
  RawClient r;
  r.server.echo = false;
  ASSERT_TRUE(r.handshake({}));
  const std::string data = pattern(3000);
  ASSERT_EQ(r.server.conn->send(data.data(), data.size()), data.size());
  r.link.run_ticks(5);
  const uint32_t snd_max = r.rcv_nxt + 3000;  // the raw client acknowledges nothing
  r.link.run_ticks(Link::kTicksPerSecond * 3 / 2);  // past the initial 1 s RTO
  ASSERT_GT(r.link.b.env.get(Counter::tcp_timeouts), 0u);
  const size_t before = r.from_server([](const Seen&) { return true; }).size();
  r.send(tf::kAck_ | tf::kPsh, "ping");  // data B acknowledges at once (PSH, or the delayed ACK)
  r.link.run_ticks(Link::kTicksPerSecond / 10);
  const auto after = r.from_server([](const Seen&) { return true; });
  bool bare = false;
  for (size_t i = before; i < after.size(); ++i) {
    if (after[i].payload_len != 0) continue;
    bare = true;
    EXPECT_EQ(after[i].h.seq, snd_max) << "a bare ACK at SND.NXT, which the timeout pulled back";
  }
  EXPECT_TRUE(bare) << "B sent no bare ACK for the client's data";
}

TEST(TcpHostilePeer, HalfClosedAfterOurFinIsAcked_NoSecondFin) {
  // Found by the tcp_segment fuzz target: once the peer acknowledged our FIN, output() sent
  // another FIN at the next sequence number, and FIN-WAIT-2 retransmitted it on every timeout
  // until the retry limit killed a connection the peer was still sending on.
  TcpPair p;
  tcp::Connection* c = p.open();
  c->shutdown();
  ASSERT_TRUE(p.link.run_until([&] { return c->state() == State::kFinWait2; }, 10'000));
  const size_t from = p.link.log.size();
  p.server.to_send = "still talking";
  p.server.pump(*p.server.conn);
  p.link.run_ticks(Link::kTicksPerSecond * 30);
  for (size_t i = from; i < p.link.log.size(); ++i)
    EXPECT_FALSE(p.link.log[i].first && p.link.log[i].second.has(tf::kFin)) << "a second FIN";
  EXPECT_EQ(p.client.received, "still talking");
  EXPECT_EQ(c->state(), State::kFinWait2);
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

}  // namespace
}  // namespace redline::testing
