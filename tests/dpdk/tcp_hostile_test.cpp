// TCP and UDP in a real worker against hostile input and a starved mbuf pool: seeded random
// segments (flags, offsets, option bytes, lengths, payloads, checksums) to a listener, to an
// established connection and to closed ports; sending while the pool is nearly empty. Nothing
// may crash or leak, and normal traffic works afterwards.
#include <gtest/gtest.h>

#include "tests/dpdk/tcp_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

namespace {

struct Random {
  uint32_t seed;
  uint32_t operator()() { return seed = seed * 1103515245 + 12345, seed >> 8; }
  uint32_t below(uint32_t n) { return (*this)() % n; }
  Frame bytes(size_t n) {
    Frame f(n);
    for (auto& b : f) b = uint8_t((*this)());
    return f;
  }
};

// A TCP segment from host A with random flags, window, option bytes, data offset, payload and
// length; sequence numbers near `p`'s (in or near its window) or anywhere. The checksum is
// right for what is sent, unless `rnd` spoils it.
Frame random_tcp(Random& rnd, const Peer& p, uint16_t sport, uint16_t dport) {
  Frame opts = rnd.bytes(4 * rnd.below(11));
  if (!opts.empty() && rnd.below(2)) {  // well-formed kinds with lying lengths
    const uint8_t kinds[] = {tw::kOptMss, tw::kOptWindowScale, tw::kOptSackPermitted, tw::kOptSack, tw::kOptTimestamps};
    opts[0] = kinds[rnd.below(5)];
    if (opts.size() > 1) opts[1] = uint8_t(rnd.below(45));
  }
  Frame seg(tw::kMinHeaderLen);
  wire::store16(seg.data(), tw::kSrcPort, sport);
  wire::store16(seg.data(), tw::kDstPort, dport);
  const bool near = rnd.below(2);
  wire::store32(seg.data(), tw::kSeq, near ? p.snd_nxt + rnd.below(4000) - 1000 : rnd());
  wire::store32(seg.data(), tw::kAck, near ? p.rcv_nxt + rnd.below(4000) - 2000 : rnd());
  seg[tw::kDataOffset] = uint8_t(rnd.below(8) ? (5 + opts.size() / 4) << 4 : rnd.below(16) << 4);
  seg[tw::kFlags] = uint8_t(rnd());
  wire::store16(seg.data(), tw::kWindow, uint16_t(rnd.below(4) ? rnd() : 0));
  wire::store16(seg.data(), tw::kUrgent, uint16_t(rnd()));
  seg.insert(seg.end(), opts.begin(), opts.end());
  const Frame payload = rnd.bytes(rnd.below(3) ? rnd.below(200) : rnd.below(1500));
  seg.insert(seg.end(), payload.begin(), payload.end());
  if (rnd.below(8) == 0) seg.resize(rnd.below(uint32_t(seg.size()) + 1));  // cut anywhere
  if (seg.size() > tw::kChecksum + 1) {
    wire::store16(seg.data(), tw::kChecksum, 0);
    const uint16_t sum = uint16_t(~wire::ones_complement_sum(seg.data(), seg.size(),
                                                             l4_pseudo(addr("10.0.1.2"), addr("10.0.1.1"), 6, seg.size())));
    wire::store16(seg.data(), tw::kChecksum, rnd.below(10) ? sum : uint16_t(rnd()));
  }
  return from_host_a(seg, 6);
}

Frame random_udp(Random& rnd) {
  const uint16_t ports[] = {kEchoPort, 9, 5353, uint16_t(rnd())};
  Frame u = udp_bytes(addr("10.0.1.2"), addr("10.0.1.1"), uint16_t(rnd()), ports[rnd.below(4)], rnd.bytes(rnd.below(300)));
  switch (rnd.below(5)) {
    case 0: wire::store16(u.data(), wire::udp::kLength, uint16_t(rnd())); break;
    case 1: wire::store16(u.data(), wire::udp::kChecksum, uint16_t(rnd())); break;
    case 2: u.resize(rnd.below(uint32_t(u.size()) + 1)); break;
    default: break;
  }
  return from_host_a(u, 17);
}

// Echo through a fresh connection from `port`, then both closes.
void echo_works(TcpRig& t, uint16_t port) {
  Peer p{t, port, kEchoPort};
  ASSERT_TRUE(p.open());
  const Frame msg = pattern(3000);
  p.send(tw::kAck_, Frame(msg.begin(), msg.begin() + 1460));
  p.send(tw::kAck_, Frame(msg.begin() + 1460, msg.begin() + 2920));
  p.send(tw::kAck_ | tw::kPsh, Frame(msg.begin() + 2920, msg.end()));
  p.take(t.exchange());
  p.send(tw::kAck_ | tw::kFin);
  p.take(t.exchange());
  EXPECT_EQ(p.received, msg);
  EXPECT_TRUE(p.fin_received);
  p.send(tw::kAck_);
  t.exchange();
}

}  // namespace

TEST(TcpHostile, RandomSegmentsToListenerConnectionAndClosedPortsNeitherCrashNorLeak) {
  const unsigned before = Rig::pool() ? rte_mempool_in_use_count(Rig::pool()) : 0;
  TcpRigOptions o;
  o.settings.synack_retries = 2;
  o.settings.retries = 3;
  o.settings.time_wait_ms = 1000;
  o.settings.fin_wait2_ms = 1000;
  o.settings.max_connections = 1024;
  auto t = std::make_unique<TcpRig>(o);
  Peer est{*t, 41000, kEchoPort};
  ASSERT_TRUE(est.open());
  Random rnd{20240607};
  constexpr int kRounds = 120, kPerRound = 32;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kPerRound; ++i) {
      switch (rnd.below(4)) {
        case 0: t->inject(random_tcp(rnd, est, est.port, kEchoPort)); break;                      // the connection
        case 1: t->inject(random_tcp(rnd, est, uint16_t(41001 + rnd.below(16)), kEchoPort)); break;  // the listener
        case 2: t->inject(random_tcp(rnd, est, uint16_t(rnd()), uint16_t(rnd()))); break;           // anywhere
        default: t->inject(random_udp(rnd)); break;
      }
    }
    est.take(t->exchange(1, 20));  // timers move too: retransmissions, SYN-ACK retries
  }
  // The input reached every check.
  EXPECT_GT(t->counter(Counter::tcp_truncated), 0u);
  EXPECT_GT(t->counter(Counter::tcp_bad_checksum), 0u);
  EXPECT_GT(t->counter(Counter::tcp_segs_in), 0u);
  EXPECT_GT(t->counter(Counter::udp_truncated), 0u);
  EXPECT_GT(t->counter(Counter::udp_bad_checksum), 0u);
  EXPECT_GT(t->counter(Counter::udp_delivered), 0u);
  echo_works(*t, 42000);
  // Everything the noise opened times out (SYN-ACK and data retries, FIN-WAIT-2, TIME-WAIT);
  // the connection it was aimed at stays only if the noise never hit its window.
  t->idle(20);
  EXPECT_LE(t->connections(), 1u);
  echo_works(*t, 42001);
  t.reset();
  EXPECT_EQ(rte_mempool_in_use_count(Rig::pool()), before) << "mbufs leaked";
}

// The send buffer's chunks are mbufs: with the pool nearly empty send() takes what 4 mbufs hold
// and no more. Zero-copy send then needs no mbuf to build a segment (each leaves in its chunk);
// with copies, segments wait (tcp_no_buffer) until mbufs return. Either way every byte arrives.
void send_with_the_pool_nearly_empty(bool zero_copy) {
  Recorder app;  // outlives the worker, whose connection names it
  TcpRigOptions o;
  o.settings.zero_copy_send = zero_copy;
  TcpRig t(o);
  ASSERT_TRUE(t.stage().host().listen(9000, app));
  Peer p{t, 43000, 9000};
  ASSERT_TRUE(p.open());
  ASSERT_EQ(app.connected.size(), 1u);
  tcp::Connection& c = *app.connected[0];
  ASSERT_EQ(c.state(), tcp::State::kEstablished);
  const Frame data = pattern(64 * 1024);

  // Take all but 4 mbufs out of the pool.
  rte_mempool* pool = Rig::pool();
  std::vector<rte_mbuf*> held(rte_mempool_avail_count(pool) - 4);
  ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool, held.data(), unsigned(held.size())), 0);
  size_t sent = c.send(data.data(), data.size());
  EXPECT_LT(sent, data.size()) << "back-pressure: the send buffer's chunks are mbufs";
  EXPECT_LE(sent, 4u * 2048u);
  const uint64_t no_buffer = t.counter(Counter::tcp_no_buffer);
  const auto first = p.take(t.exchange());
  if (zero_copy) {
    EXPECT_EQ(first.size(), 4u) << "each chunk leaves as it is, no mbuf needed";
    EXPECT_EQ(t.counter(Counter::tcp_tx_zero_copy), 4u);
    EXPECT_EQ(p.received.size(), sent);
  } else {
    EXPECT_TRUE(first.empty()) << "no mbuf to build a segment in";
    EXPECT_GT(t.counter(Counter::tcp_no_buffer), no_buffer);
    EXPECT_GT(t.counter(Counter::mbuf_alloc_failed), 0u);
  }
  EXPECT_EQ(c.send(data.data() + sent, data.size() - sent), 0u);
  EXPECT_EQ(c.state(), tcp::State::kEstablished);

  rte_pktmbuf_free_bulk(held.data(), unsigned(held.size()));
  if (!first.empty()) p.send(tw::kAck_);
  for (int round = 0; round < 400 && p.received.size() < data.size(); ++round) {
    if (sent < data.size()) sent += c.send(data.data() + sent, data.size() - sent);
    if (!p.take(t.exchange(1)).empty()) p.send(tw::kAck_);
  }
  t.exchange();  // the last ACK
  EXPECT_EQ(sent, data.size());
  EXPECT_EQ(p.received.size(), data.size());
  EXPECT_TRUE(p.received == data) << "every byte, in order, once";
  EXPECT_EQ(c.state(), tcp::State::kEstablished);
  EXPECT_EQ(c.unacked(), 0u);
  EXPECT_EQ(c.send_queued(), 0u);
  EXPECT_EQ(t.counter(Counter::tcp_retransmits), 0u);
}

TEST(TcpHostile, SendWithThePoolNearlyEmptyZeroCopyNeedsNoMbufPerSegment) { send_with_the_pool_nearly_empty(true); }
TEST(TcpHostile, SendWithThePoolNearlyEmptyCopiedBacksOffAndCompletesWhenMbufsReturn) {
  send_with_the_pool_nearly_empty(false);
}
