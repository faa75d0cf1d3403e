// The TCP stage in real workers on ring ports, the test as the peer: the handshake with its
// options, data through the echo service, both closes, answers to segments for no connection,
// the checks that drop bad segments, and connect()'s port choice with two workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "stack/pipeline/ownership.hpp"
#include "tests/dpdk/tcp_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

namespace {

Frame bytes(const char* s) { return Frame(s, s + std::strlen(s)); }

// A segment from host A to 10.0.1.1 whose TCP bytes `edit` may spoil after the checksum.
template <typename F>
Frame spoiled(const Seg& s, F&& edit) {
  Frame t = tcp_bytes(addr("10.0.1.2"), addr("10.0.1.1"), s);
  edit(t);
  return from_host_a(t, 6);
}

}  // namespace

TEST(Tcp, HandshakeEchoAndBothClosesLeaveNoConnectionAndNoMbuf) {
  const unsigned before = Rig::pool() ? rte_mempool_in_use_count(Rig::pool()) : 0;
  auto t = std::make_unique<TcpRig>();
  Peer p{*t, 40000, kEchoPort};
  p.syn();
  auto got = p.take(t->exchange());
  ASSERT_EQ(got.size(), 1u);
  const Out& sa = got[0];
  EXPECT_TRUE(sa.checksums_ok);
  EXPECT_EQ(sa.src, addr("10.0.1.1"));
  EXPECT_EQ(sa.h.flags, tw::kSyn | tw::kAck_);
  EXPECT_EQ(sa.h.ack, 1001u);
  // RFC 9293 §3.7.1: MSS from the port's MTU; RFC 2018 §2, RFC 7323 §1.3: SACK-permitted,
  // timestamps (echoing ours) and window scale answered because the SYN carried them.
  EXPECT_EQ(sa.opt.mss, std::optional<uint16_t>(1460));
  EXPECT_TRUE(sa.opt.sack_permitted);
  EXPECT_TRUE(sa.opt.has_timestamps);
  EXPECT_EQ(sa.opt.ts_ecr, 5001u);
  ASSERT_TRUE(sa.opt.window_shift.has_value());
  EXPECT_GT(*sa.opt.window_shift, 0) << "a 256 KiB buffer needs a scaled window";
  p.send(tw::kAck_);
  t->exchange();
  EXPECT_EQ(t->counter(Counter::tcp_accepted), 1u);
  EXPECT_EQ(t->stage().connections(), 1u);

  const Frame msg = bytes("kernel bypass, one segment at a time");
  p.send(tw::kAck_ | tw::kPsh, msg);
  got = p.take(t->exchange());
  ASSERT_FALSE(got.empty());
  for (const Out& o : got) EXPECT_TRUE(o.checksums_ok);
  EXPECT_EQ(p.received, msg);
  EXPECT_EQ(got.back().h.ack, p.snd_nxt) << "our data acknowledged";

  // The peer closes; the echo service, having echoed everything, closes too (LAST-ACK).
  p.send(tw::kAck_ | tw::kFin);
  got = p.take(t->exchange());
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(p.fin_received);
  EXPECT_EQ(got.back().h.ack, p.snd_nxt) << "our FIN acknowledged";
  EXPECT_EQ(t->stage().connections(), 1u);
  p.send(tw::kAck_);
  t->exchange();
  EXPECT_EQ(t->stage().connections(), 0u) << "LAST-ACK ends at the ACK of its FIN";
  EXPECT_EQ(t->stage().time_wait(), 0u);
  EXPECT_EQ(t->counter(Counter::tcp_closed), 1u);
  EXPECT_EQ(t->counter(Counter::tcp_rst_sent), 0u);
  t.reset();
  EXPECT_EQ(rte_mempool_in_use_count(Rig::pool()), before) << "mbufs leaked";
}

// Redline closes first (the source service sends its bytes then FIN): it holds TIME-WAIT for
// 2 MSL (RFC 9293 §3.6) and then frees the connection.
TEST(Tcp, SideThatClosesFirstHoldsTimeWaitThenFreesTheConnection) {
  TcpRigOptions o;
  o.services.source = 19;
  o.services.source_bytes = 3000;
  o.settings.time_wait_ms = 2000;
  TcpRig t(o);
  Peer p{t, 40001, 19};
  ASSERT_TRUE(p.open());
  auto got = p.take(t.exchange(4));
  p.send(tw::kAck_);
  got = p.take(t.exchange(4));
  ASSERT_EQ(p.received.size(), 3000u);
  for (size_t i = 0; i < p.received.size(); ++i) ASSERT_EQ(p.received[i], services::pattern_byte(i)) << i;
  ASSERT_TRUE(p.fin_received);
  p.send(tw::kAck_ | tw::kFin);
  got = p.take(t.exchange());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.flags, tw::kAck_);
  EXPECT_EQ(got[0].h.ack, p.snd_nxt);
  EXPECT_EQ(t.stage().time_wait(), 1u);
  EXPECT_EQ(t.stage().connections(), 1u);
  t.idle(1.5);
  EXPECT_EQ(t.stage().time_wait(), 1u) << "2 MSL not over yet";
  t.idle(1.0);
  EXPECT_EQ(t.stage().time_wait(), 0u);
  EXPECT_EQ(t.stage().connections(), 0u);
}

// RFC 9293 §3.10.7.1: a segment for no connection is answered RST: <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
// <CTL=RST,ACK> without ACK, <SEQ=SEG.ACK><CTL=RST> with it.
TEST(Tcp, SegmentsToAClosedPortAreAnsweredWithReset) {
  TcpRig t;
  Peer p{t, 40002, 4444};
  p.snd_nxt = 0x7ffffff0;
  p.syn();
  auto got = p.take(t.exchange());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].checksums_ok);
  EXPECT_EQ(got[0].h.flags, tw::kRst | tw::kAck_);
  EXPECT_EQ(got[0].h.seq, 0u);
  EXPECT_EQ(got[0].h.ack, 0x7ffffff1u) << "SEG.SEQ + SEG.LEN, the SYN counting one";
  Seg a = p.seg(tw::kAck_ | tw::kPsh, bytes("stray"));
  a.ack = 0xdeadbeef;
  t.inject(p.frame(a));
  got = p.take(t.exchange());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.flags, tw::kRst);
  EXPECT_EQ(got[0].h.seq, 0xdeadbeefu);
  // A RST is never answered.
  t.inject(p.frame(p.seg(tw::kRst)));
  EXPECT_TRUE(p.take(t.exchange()).empty());
  EXPECT_EQ(t.counter(Counter::tcp_rst_sent), 2u);
  EXPECT_EQ(t.counter(Counter::tcp_no_listener), 3u);
  EXPECT_EQ(t.connections(), 0u);
}

TEST(Tcp, SegmentWithABadChecksumIsDroppedAndCounted) {
  TcpRig t;
  Peer p{t, 40003, kEchoPort};
  Seg s = p.seg(tw::kSyn);
  t.inject(spoiled(s, [](Frame& f) { f[tw::kChecksum] ^= 0x40; }));
  t.inject(spoiled(s, [](Frame& f) { f[tw::kSeq] ^= 1; }));  // a bit flipped on the way
  EXPECT_TRUE(t.exchange().empty());
  EXPECT_EQ(t.counter(Counter::tcp_bad_checksum), 2u);
  EXPECT_EQ(t.connections(), 0u);
  EXPECT_EQ(t.counter(Counter::tcp_segs_in), 0u);
}

TEST(Tcp, TruncatedHeadersAndBadDataOffsetsAreCounted) {
  TcpRig t;
  Peer p{t, 40004, kEchoPort};
  Seg s = p.seg(tw::kSyn);
  s.opt = {};
  s.opt.mss = 1460;  // a 24-byte header
  // Shorter than the fixed header (10 bytes), the checksum right for what is there.
  Frame short_seg = tcp_bytes(addr("10.0.1.2"), addr("10.0.1.1"), s);
  short_seg.resize(10);
  wire::store16(short_seg.data(), tw::kChecksum, 0);
  wire::store16(short_seg.data(), tw::kChecksum,
                uint16_t(~wire::ones_complement_sum(short_seg.data(), 10, l4_pseudo(addr("10.0.1.2"), addr("10.0.1.1"), 6, 10))));
  t.inject(from_host_a(short_seg, 6));
  // Data offsets below 5 words and beyond the segment, each with a checksum that is right.
  for (uint8_t words : {0, 4, 7, 15}) {
    Seg d = s;
    d.opt = {};
    Frame seg = tcp_bytes(addr("10.0.1.2"), addr("10.0.1.1"), d);
    seg[tw::kDataOffset] = uint8_t(words << 4);
    wire::store16(seg.data(), tw::kChecksum, 0);
    wire::store16(seg.data(), tw::kChecksum,
                  uint16_t(~wire::ones_complement_sum(seg.data(), seg.size(), l4_pseudo(addr("10.0.1.2"), addr("10.0.1.1"), 6, seg.size()))));
    t.inject(from_host_a(seg, 6));
  }
  EXPECT_TRUE(t.exchange().empty());
  EXPECT_EQ(t.counter(Counter::tcp_truncated), 5u);
  EXPECT_EQ(t.counter(Counter::tcp_bad_checksum), 0u);
  EXPECT_EQ(t.connections(), 0u);
}

// RFC 1122 §4.2.3.10: a SYN to a broadcast or multicast address is discarded, never answered.
TEST(Tcp, SynToABroadcastAddressIsDropped) {
  TcpRig t;
  for (const char* dst : {"10.0.1.255", "255.255.255.255"}) {
    for (uint16_t port : {kEchoPort, uint16_t(4444)}) {
      Seg s;
      s.sport = 40005;
      s.dport = port;
      s.seq = 1;
      s.flags = tw::kSyn;
      Frame f = ipv4_frame(net::MacAddr::broadcast(), kHostA, addr("10.0.1.2"), addr(dst), 6,
                           tcp_bytes(addr("10.0.1.2"), addr(dst), s));
      t.inject(f);
    }
  }
  EXPECT_TRUE(t.exchange().empty());
  EXPECT_EQ(t.connections(), 0u);
  EXPECT_EQ(t.counter(Counter::tcp_rst_sent), 0u);
  EXPECT_EQ(t.counter(Counter::tcp_segs_in), 0u);
}

// Each worker connects out; the SYN-ACK, put on the queue the NIC's RSS would choose (the
// software Toeplitz owner), lands on the worker that opened the connection: connect() chose a
// local port for that (Env::take_local_port), so nothing is handed across cores.
TEST(Tcp, ConnectFromEachWorkerGetsItsRepliesOnThatWorker) {
  Recorder app;  // outlives the workers, whose connections name it
  TcpRigOptions o;
  o.workers = 2;
  TcpRig t(o);
  const tcp::Endpoint remote{addr("10.0.1.2").value, 8080};
  for (int round = 0; round < 2; ++round) {  // two connections per worker
    for (uint32_t w = 0; w < 2; ++w) {
      ASSERT_NE(t.stage(w).host().connect(remote, app), nullptr);
      auto out = t.exchange(1);
      ASSERT_EQ(out.size(), 1u);
      auto syn = read_out(out[0]);
      ASSERT_TRUE(syn && syn->proto == 6);
      EXPECT_TRUE(syn->checksums_ok);
      EXPECT_EQ(syn->h.flags, tw::kSyn);
      EXPECT_GE(syn->h.src_port, 32768);
      Seg sa;  // host A's SYN-ACK, from 8080 to the port redline chose
      sa.sport = 8080;
      sa.dport = syn->h.src_port;
      sa.seq = 777;
      sa.ack = syn->h.seq + 1;
      sa.flags = tw::kSyn | tw::kAck_;
      sa.opt.mss = 1460;
      Frame f = from_host_a(tcp_bytes(addr("10.0.1.2"), addr("10.0.1.1"), sa), 6);
      rte_mbuf* m = t.rig().mbuf(f);
      uint32_t hash;
      const uint32_t owner = pipeline::owner_of(t.rig().shared(), m, 0, f.data() + wire::eth::kHeaderLen, &hash);
      rte_pktmbuf_free(m);
      EXPECT_EQ(owner, w) << "the reply's RSS owner is the worker that connected";
      t.inject(f, owner);
      out = t.exchange();
      ASSERT_EQ(out.size(), 1u);
      auto ack = read_out(out[0]);
      ASSERT_TRUE(ack);
      EXPECT_EQ(ack->h.flags, tw::kAck_);
      EXPECT_EQ(ack->h.ack, 778u);
      EXPECT_EQ(t.counter(w, Counter::tcp_connected), uint64_t(round + 1));
    }
  }
  ASSERT_EQ(app.connected.size(), 4u);
  for (tcp::Connection* c : app.connected) EXPECT_EQ(c->state(), tcp::State::kEstablished);
  for (uint32_t w = 0; w < 2; ++w) {
    EXPECT_EQ(t.stage(w).connections(), 2u);
    EXPECT_EQ(t.counter(w, Counter::handoff_out), 0u);
    EXPECT_EQ(t.counter(w, Counter::handoff_in), 0u);
    EXPECT_EQ(t.counter(w, Counter::tcp_no_listener), 0u);
    EXPECT_EQ(t.counter(w, Counter::tcp_handoff), 0u);
  }
}

// One burst: a RST ends connection X, a SYN from another peer Y takes the freed control block,
// then a segment for X whose lookup (made for the whole burst at its start) found that block.
// It must be answered as what it is now, a segment for no connection (RFC 9293 §3.10.7.1),
// not given to Y's connection.
TEST(Tcp, SegmentOfAConnectionEndedEarlierInTheBurstIsNotGivenToItsSuccessor) {
  TcpRig t;
  Peer x{t, 40010, kEchoPort};
  ASSERT_TRUE(x.open());
  Peer y{t, 40011, kEchoPort};
  x.send(tw::kRst);  // at RCV.NXT exactly: accepted (RFC 5961 §3.2)
  y.syn();
  x.send(tw::kAck_ | tw::kPsh, bytes("late"));
  auto out = t.exchange();
  auto to_x = x.take(out);
  auto to_y = y.take(out);
  ASSERT_EQ(to_x.size(), 1u);
  EXPECT_EQ(to_x[0].h.flags, tw::kRst);
  EXPECT_EQ(to_x[0].h.seq, x.rcv_nxt) << "<SEQ=SEG.ACK><CTL=RST>";
  ASSERT_EQ(to_y.size(), 1u);
  EXPECT_EQ(to_y[0].h.flags, tw::kSyn | tw::kAck_);
  y.send(tw::kAck_);
  y.send(tw::kAck_ | tw::kPsh, bytes("still here"));
  y.take(t.exchange());
  EXPECT_EQ(y.received, bytes("still here"));
  EXPECT_EQ(t.stage().connections(), 1u);
}

TEST(Tcp, ListingAfterAnAbandonedRequest_IsWrittenForTheNewRequest) {
  // `show connections` gave up on a worker (timeout) while the worker went on to write the
  // listing for it; the next request must read a listing written for itself, never the text the
  // worker may still be rewriting. Here the worker runs in a thread of its own as it does in
  // redline, with a connection open, and requests are abandoned at once, over and over.
  TcpRig t;
  Peer p{t, 40100, kEchoPort};
  ASSERT_TRUE(p.open());
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    while (!stop.load(std::memory_order_relaxed)) t.rig().poll_all(1);
  });
  int answered = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    if (t.stage().dump(&text, i % 2 ? 0 : 50)) {
      ++answered;
      EXPECT_NE(text.find(":40100"), std::string::npos) << text;
      EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
    }
  }
  stop = true;
  worker.join();
  EXPECT_GT(answered, 0);
  p.send(tw::kAck_ | tw::kRst);
  t.exchange();
}
