// Zero-copy send (issue 9): segments leave in the buffers holding their payload. The test Env
// counts the decision MbufEnv makes (tcp_tx_zero_copy: the payload is one chunk nobody else
// holds; tcp_tx_copied: otherwise), so these tests check the engine's part: one buffer per
// segment from send(), segments cut to start at chunk starts again, the echo in the buffers the
// data came in, and every byte intact and every buffer freed.
#include <cstring>

#include "tests/unit/tcp_pair.hpp"

namespace redline::testing {
namespace {

using Pair = TcpPair;
using net::Counter;

std::vector<uint32_t> data_lengths(const Link& link, bool from_a) {
  std::vector<uint32_t> out;
  for (const Seen& s : data_from(link, from_a)) out.push_back(s.payload_len);
  return out;
}

TEST(TcpZeroCopy, Send_EverySegmentOfABulkTransferLeavesInPlace) {
  Pair p;
  tcp::Connection* c = p.open();
  p.client.to_send = pattern(300'000);
  p.client.pump(*c);
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received.size() == 300'000; }, 100'000));
  EXPECT_TRUE(same(p.server.received, p.client.to_send));
  const size_t segs = data_from(p.link, true).size();
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_tx_zero_copy), segs);
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_tx_copied), 0u);
  // One chunk per segment: full-size segments (1448 bytes: MSS 1460 less 12 of timestamps), the
  // last one what is left.
  const std::vector<uint32_t> lens = data_lengths(p.link, true);
  ASSERT_EQ(c->mss(), 1448u);
  for (size_t i = 0; i + 1 < lens.size(); ++i) ASSERT_EQ(lens[i], 1448u) << "segment " << i;
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpZeroCopy, Send_OffCopiesEverySegment) {
  tcp::Settings s;
  s.zero_copy_send = false;
  Pair p(s);
  tcp::Connection* c = p.open();
  p.client.to_send = pattern(100'000);
  p.client.pump(*c);
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received.size() == 100'000; }, 100'000));
  EXPECT_TRUE(same(p.server.received, p.client.to_send));
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_tx_copied), data_from(p.link, true).size());
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_tx_zero_copy), 0u);
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

// Queues `bytes` of `text` as one application chunk (send_chunk), from offset `at`.
bool queue_chunk(Link& link, tcp::Connection& c, const std::string& text, size_t at, uint32_t bytes) {
  tcp::Chunk ch = link.a.env.alloc();
  std::memcpy(ch.data, text.data() + at, bytes);
  ch.len = bytes;
  ch.room = 0;
  if (c.send_chunk(ch)) return true;
  link.a.env.release(ch.owner);
  return false;
}

TEST(TcpZeroCopy, Send_ChunkLongerThanASegmentIsCutSoTheNextStartsAtAChunk) {
  Pair p;
  tcp::Connection* c = p.open(tcp::ConnOptions{.nodelay = true});
  const std::string text = pattern(2000 + 1448 + 1448);
  ASSERT_TRUE(queue_chunk(p.link, *c, text, 0, 2000));
  ASSERT_TRUE(queue_chunk(p.link, *c, text, 2000, 1448));
  ASSERT_TRUE(queue_chunk(p.link, *c, text, 3448, 1448));
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received.size() == text.size(); }, 10'000));
  EXPECT_TRUE(same(p.server.received, text));
  // The 2000-byte chunk: a full segment (1448 bytes) in place, its last 552 bytes copied in a
  // segment of their own, so the two segment-sized chunks after it go in place again (and not
  // as 1448 + 1448 + 552, copied across chunk edges).
  EXPECT_EQ(data_lengths(p.link, true), (std::vector<uint32_t>{1448, 552, 1448, 1448}));
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_tx_zero_copy), 3u);
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_tx_copied), 1u);
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpZeroCopy, Send_ChunksLongerThanASegmentAreNotCutEachIntoARunt) {
  Pair p;
  tcp::Connection* c = p.open(tcp::ConnOptions{.nodelay = true});
  // 1460-byte chunks with 1448 bytes per segment: cutting would send 1448 + 12 per chunk.
  const std::string text = pattern(1460 * 6);
  for (size_t i = 0; i < 6; ++i) ASSERT_TRUE(queue_chunk(p.link, *c, text, i * 1460, 1460));
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received.size() == text.size(); }, 10'000));
  EXPECT_TRUE(same(p.server.received, text));
  EXPECT_EQ(data_lengths(p.link, true), (std::vector<uint32_t>{1448, 1448, 1448, 1448, 1448, 1448, 72}));
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpZeroCopy, Send_ChunkALittleShortOfASegmentGoesAloneInPlace) {
  Pair p;
  tcp::Connection* c = p.open(tcp::ConnOptions{.nodelay = true});
  // What a peer's segments carry when SACK blocks take option space: 1436 bytes, not 1448.
  const std::string text = pattern(1436 * 5);
  for (size_t i = 0; i < 5; ++i) ASSERT_TRUE(queue_chunk(p.link, *c, text, i * 1436, 1436));
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received.size() == text.size(); }, 10'000));
  EXPECT_TRUE(same(p.server.received, text));
  EXPECT_EQ(data_lengths(p.link, true), (std::vector<uint32_t>(5, 1436)));
  EXPECT_EQ(p.link.a.env.get(Counter::tcp_tx_zero_copy), 5u);
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpZeroCopy, Send_SmallChunksAreCopiedTogetherNotSentOneByOne) {
  Pair p;
  tcp::Connection* c = p.open(tcp::ConnOptions{.nodelay = false});
  const std::string text = pattern(100 * 40);
  for (size_t i = 0; i < 40; ++i) ASSERT_TRUE(queue_chunk(p.link, *c, text, i * 100, 100));
  ASSERT_TRUE(p.link.run_until([&] { return p.server.received.size() == text.size(); }, 10'000));
  EXPECT_TRUE(same(p.server.received, text));
  // Nagle sends the first 100 bytes alone (nothing was in flight); the rest goes in full
  // segments spanning chunks, copied; no runts cut at 100-byte chunk edges.
  const std::vector<uint32_t> lens = data_lengths(p.link, true);
  ASSERT_GE(lens.size(), 3u);
  for (size_t i = 1; i + 1 < lens.size(); ++i) EXPECT_EQ(lens[i], c->mss()) << "segment " << i;
  p.close_and_drain();
  EXPECT_EQ(p.link.ledger.live, 0);
}

// The client sends `bytes` to B's echo in place (send_received) and closes; every byte must come
// back, in order.
// `watch` runs at every tick.
void echo_in_place(Pair& p, size_t bytes, uint32_t seed, const Impairment& imp = {},
                   const std::function<void()>& watch = [] {}) {
  p.server.echo_in_place = true;
  p.server.close_on_peer_close = true;
  tcp::Connection* c = p.open();
  p.link.imp = imp;
  p.client.to_send = pattern(bytes, seed);
  p.client.shutdown_after_send = true;
  p.client.pump(*c);
  ASSERT_TRUE(p.link.run_until([&] {
    watch();
    return p.client.closed && p.server.closed;
  }, 3'000'000)) << "client " << p.client.received.size() << " server " << p.server.received.size();
  EXPECT_TRUE(same(p.server.received, p.client.to_send));
  EXPECT_TRUE(same(p.client.received, p.client.to_send));
}

// After TIME-WAIT: every buffer freed, none still shared.
void expect_no_buffer_left(Pair& p) {
  p.link.run_ticks(61 * Link::kTicksPerSecond);
  EXPECT_TRUE(p.link.b.env.extra_refs.empty());
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpZeroCopy, SendReceived_EchoesInTheBuffersTheDataCameIn) {
  Pair p;
  echo_in_place(p, 300'000, 7);
  // Every echoed segment is a received one, sent back in place.
  EXPECT_EQ(p.link.b.env.get(Counter::tcp_tx_zero_copy), data_from(p.link, false).size());
  EXPECT_EQ(p.link.b.env.get(Counter::tcp_tx_copied), 0u);
  expect_no_buffer_left(p);
}

TEST(TcpZeroCopy, SendReceived_EchoSurvivesLossReorderingAndDuplication) {
  Pair p({}, {}, 11);
  echo_in_place(p, 500'000, 11, {.loss = 0.05, .dup = 0.05, .reorder = 0.1, .delay_ticks = 20, .reorder_extra_ticks = 11});
  EXPECT_GT(p.link.b.env.get(Counter::tcp_tx_zero_copy), 0u);
  expect_no_buffer_left(p);
}

TEST(TcpZeroCopy, SendReceived_TakesWhatTheSendBufferHoldsAndResumesWhenWritable) {
  Pair p({}, {}, 1, tcp::ConnOptions{.send_buffer = 4096});
  bool held_back = false;  // some received bytes waited for room in the send buffer
  echo_in_place(p, 200'000, 7, {}, [&] {
    if (p.server.conn && p.server.conn->readable() > 0 && p.server.conn->send_queued() > 0) held_back = true;
  });
  EXPECT_TRUE(held_back);
  EXPECT_GT(p.server.writable_events, 0);
  expect_no_buffer_left(p);
}

}  // namespace
}  // namespace redline::testing
