// Zero-copy send in a real worker (issue 9): segments leave in the mbufs holding their payload,
// headers written in the headroom, while nothing else holds the mbuf; copied otherwise. The echo
// service sends back the very mbufs the data arrived in.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "tests/dpdk/tcp_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

namespace {

// An mbuf from the worker's pool holding `payload` where an application would put it.
rte_mbuf* filled(const Frame& payload, uint8_t headroom_fill) {
  rte_mbuf* m = rte_pktmbuf_alloc(Rig::pool());
  if (!m) return nullptr;
  std::memset(m->buf_addr, headroom_fill, m->data_off);
  std::memcpy(rte_pktmbuf_append(m, uint16_t(payload.size())), payload.data(), payload.size());
  return m;
}

tcp::Chunk chunk_of(rte_mbuf* m) { return {m, rte_pktmbuf_mtod(m, uint8_t*), m->data_len, 0}; }

struct Open {
  Recorder app;
  std::unique_ptr<TcpRig> t = std::make_unique<TcpRig>();
  Peer p{*t, 44000, 9100};
  tcp::Connection* c = nullptr;
  bool open() {
    if (!t->stage().host().listen(9100, app) || !p.open() || app.connected.size() != 1) return false;
    c = app.connected[0];
    return true;
  }
};

// Every test ends with the pool as it found it: no mbuf leaked, none still referenced.
class TcpZeroCopyStage : public ::testing::Test {
 protected:
  void SetUp() override { before_ = Rig::pool() ? rte_mempool_in_use_count(Rig::pool()) : 0; }
  void TearDown() override { EXPECT_EQ(rte_mempool_in_use_count(Rig::pool()), before_) << "mbufs leaked"; }

 private:
  unsigned before_ = 0;
};

// Redline sent `payload` as one segment, in place.
void expect_one_segment_in_place(Open& o, const Frame& payload) {
  const auto got = o.p.take(o.t->exchange());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].checksums_ok);
  EXPECT_EQ(got[0].payload, payload);
  EXPECT_EQ(o.t->counter(Counter::tcp_tx_zero_copy), 1u);
  EXPECT_EQ(o.t->counter(Counter::tcp_tx_copied), 0u);
}

// The peer acknowledges everything: the send queue lets go of its buffers.
void acknowledge(Open& o) {
  o.p.send(tw::kAck_);
  o.t->exchange();
  EXPECT_EQ(o.c->send_queued(), 0u);
}

}  // namespace

TEST_F(TcpZeroCopyStage, EchoSendsBackTheMbufsTheDataArrivedIn) {
  auto t = std::make_unique<TcpRig>();
  Peer p{*t, 44001, kEchoPort};
  ASSERT_TRUE(p.open());
  const Frame data = pattern(10 * 1448);
  for (size_t i = 0; i < 10; ++i)
    p.send(tw::kAck_, Frame(data.begin() + long(i * 1448), data.begin() + long((i + 1) * 1448)));
  for (int round = 0; round < 50 && p.received.size() < data.size(); ++round)
    if (!p.take(t->exchange(1)).empty()) p.send(tw::kAck_);
  EXPECT_TRUE(p.received == data) << p.received.size() << " bytes back";
  EXPECT_EQ(t->counter(Counter::tcp_tx_zero_copy), 10u) << "each segment back in the mbuf it came in";
  EXPECT_EQ(t->counter(Counter::tcp_tx_copied), 0u);
  p.send(tw::kAck_ | tw::kFin);
  p.take(t->exchange());
  p.send(tw::kAck_);
  t->exchange();
  EXPECT_EQ(t->stage().connections(), 0u);
}

TEST_F(TcpZeroCopyStage, ChunkOnlyTheSendQueueHoldsLeavesWithHeadersInItsHeadroom) {
  Open o;
  ASSERT_TRUE(o.open());
  const Frame payload = pattern(1000);
  rte_mbuf* m = filled(payload, 0xaa);
  ASSERT_TRUE(o.c->send_chunk(chunk_of(m)));
  expect_one_segment_in_place(o, payload);
  acknowledge(o);  // the pool has the mbuf back at the end
}

TEST_F(TcpZeroCopyStage, ChunkSomeoneElseStillHoldsIsCopiedAndItsHeadroomLeftAlone) {
  Open o;
  ASSERT_TRUE(o.open());
  const Frame payload = pattern(1000);
  rte_mbuf* m = filled(payload, 0xaa);
  rte_mbuf_refcnt_update(m, 1);  // the application keeps a reference (it may still read it)
  const uint16_t data_off = m->data_off;
  ASSERT_TRUE(o.c->send_chunk(chunk_of(m)));
  const auto got = o.p.take(o.t->exchange());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, payload);
  EXPECT_EQ(o.t->counter(Counter::tcp_tx_zero_copy), 0u);
  EXPECT_EQ(o.t->counter(Counter::tcp_tx_copied), 1u);
  // Not a byte of the application's mbuf changed: headroom, data offset, payload.
  const auto* b = static_cast<const uint8_t*>(m->buf_addr);
  EXPECT_EQ(m->data_off, data_off);
  EXPECT_TRUE(std::all_of(b, b + data_off, [](uint8_t x) { return x == 0xaa; }));
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), rte_pktmbuf_mtod(m, const uint8_t*)));
  o.p.send(tw::kAck_);
  o.t->exchange();
  EXPECT_EQ(rte_mbuf_refcnt_read(m), 1u) << "the send queue released its reference on the ACK";
  rte_pktmbuf_free(m);
}

TEST_F(TcpZeroCopyStage, LostSegmentIsRetransmittedFromTheSameMbufOnceTheFirstFrameIsGone) {
  Open o;
  ASSERT_TRUE(o.open());
  const Frame data = pattern(1448);
  ASSERT_EQ(o.c->send(data.data(), data.size()), data.size());
  const auto first = o.t->exchange();  // taken off the TX ring and lost: never reaches the peer
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(o.t->counter(Counter::tcp_tx_zero_copy), 1u);
  std::vector<Out> again;
  for (int i = 0; i < 100 && again.empty(); ++i) again = o.p.take(o.t->exchange(1, 10));
  ASSERT_EQ(again.size(), 1u) << "retransmitted within a second";
  EXPECT_TRUE(again[0].checksums_ok);
  EXPECT_EQ(again[0].payload, data);
  EXPECT_EQ(o.t->counter(Counter::tcp_retransmits), 1u);
  EXPECT_EQ(o.t->counter(Counter::tcp_tx_zero_copy), 2u) << "the first frame's reference was gone: in place again";
  o.p.send(tw::kAck_);
  o.t->exchange();
  EXPECT_EQ(o.c->unacked(), 0u);
}

// An application's own buffer, attached to an mbuf as an external buffer (rte_pktmbuf_attach_extbuf),
// leaves in place too, with its headers in the room it left in front of the data, and is handed
// back through its free callback once acknowledged.
TEST_F(TcpZeroCopyStage, ExternalBufferLeavesInPlaceAndIsFreedOnceAcknowledged) {
  Open o;
  ASSERT_TRUE(o.open());
  constexpr uint16_t kRoom = 128, kLen = 1200;
  static int freed = 0;
  freed = 0;
  uint16_t buf_len = kRoom + kLen + sizeof(rte_mbuf_ext_shared_info) + 8;
  auto* buf = static_cast<uint8_t*>(std::malloc(buf_len));
  rte_mbuf_ext_shared_info* shinfo = rte_pktmbuf_ext_shinfo_init_helper(
      buf, &buf_len, [](void* addr, void*) { std::free(addr); ++freed; }, nullptr);
  ASSERT_NE(shinfo, nullptr);
  const Frame payload = pattern(kLen);
  std::memcpy(buf + kRoom, payload.data(), kLen);
  rte_mbuf* m = rte_pktmbuf_alloc(Rig::pool());
  ASSERT_NE(m, nullptr);
  rte_pktmbuf_attach_extbuf(m, buf, rte_mem_virt2iova(buf), buf_len, shinfo);
  m->data_off = kRoom;
  m->data_len = m->pkt_len = kLen;
  ASSERT_TRUE(o.c->send_chunk(chunk_of(m)));
  expect_one_segment_in_place(o, payload);
  EXPECT_EQ(freed, 0) << "kept for retransmission until acknowledged";
  acknowledge(o);
  EXPECT_EQ(freed, 1) << "the application's free callback ran on the ACK";
}
