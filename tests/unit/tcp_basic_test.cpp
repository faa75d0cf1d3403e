// The TCP engine's basic life cycle over the in-memory link: handshake with options, transfer
// both ways, orderly close into TIME-WAIT, bulk transfers under seeded loss, reordering and
// duplication.
#include "tests/unit/tcp_link.hpp"

namespace redline::testing {
namespace {

using tcp::State;
namespace f = wire::tcp;

struct Pair {
  explicit Pair(const tcp::Settings& sa = {}, const tcp::Settings& sb = {}, uint64_t seed = 1) : link(sa, sb, 1460, seed) {
    EXPECT_TRUE(link.b.host->listen(80, server));
  }
  tcp::Connection* open() {
    tcp::Connection* c = link.a.host->connect({kIpB, 80}, client);
    EXPECT_NE(c, nullptr);
    EXPECT_TRUE(link.run_until([&] { return client.connected && server.connected; }, 1000));
    return c;
  }
  Link link;
  App client, server;
};

TEST(TcpBasic, Handshake_NegotiatesMssWindowScaleSackTimestamps) {
  Pair p;
  tcp::Connection* c = p.open();
  ASSERT_EQ(c->state(), State::kEstablished);
  ASSERT_NE(p.server.conn, nullptr);
  EXPECT_EQ(p.server.conn->state(), State::kEstablished);
  // SYN: MSS, SACK-permitted, timestamps, window scale; SYN-ACK echoes them.
  const Seen& syn = p.link.log[0].second;
  EXPECT_TRUE(syn.has(f::kSyn) && !syn.has(f::kAck_));
  EXPECT_EQ(syn.opt.mss, 1460);
  EXPECT_TRUE(syn.opt.sack_permitted);
  EXPECT_TRUE(syn.opt.has_timestamps);
  EXPECT_EQ(syn.opt.window_shift, 3);  // 256 KiB buffer
  const Seen& synack = p.link.log[1].second;
  EXPECT_TRUE(synack.has(f::kSyn) && synack.has(f::kAck_));
  EXPECT_EQ(synack.h.ack, syn.h.seq + 1);
  EXPECT_EQ(synack.opt.ts_ecr, syn.opt.ts_val);
  EXPECT_TRUE(c->sack_enabled() && c->timestamps_enabled());
  EXPECT_EQ(c->send_shift(), 3);
  EXPECT_EQ(c->mss(), 1460 - 12);
  EXPECT_EQ(p.link.a.host->stats().connections, 1u);
}

TEST(TcpBasic, SynToClosedPort_GetsRstAndConnectReportsRefused) {
  Link link;
  App client;
  ASSERT_NE(link.a.host->connect({kIpB, 81}, client), nullptr);
  EXPECT_TRUE(link.run_until([&] { return client.closed; }, 100));
  EXPECT_EQ(client.error, tcp::Error::kRefused);
  EXPECT_EQ(link.b.env.get(net::Counter::tcp_rst_sent), 1u);
  EXPECT_EQ(link.a.host->stats().connections, 0u);
}

TEST(TcpBasic, Transfer_BothWaysAndOrderlyClose) {
  Pair p;
  p.server.echo = true;
  p.server.close_on_peer_close = true;
  tcp::Connection* c = p.open();
  p.client.to_send = pattern(100'000);
  p.client.shutdown_after_send = true;
  p.client.pump(*c);
  ASSERT_TRUE(p.link.run_until([&] { return p.client.closed && p.server.closed; }, 200'000));
  EXPECT_TRUE(same(p.server.received, p.client.to_send));
  EXPECT_TRUE(same(p.client.received, p.client.to_send));
  EXPECT_EQ(p.client.error, tcp::Error::kNone);
  EXPECT_EQ(p.server.error, tcp::Error::kNone);
  // The client closed first: it waits in TIME-WAIT; the server is gone.
  EXPECT_EQ(p.link.a.host->stats().time_wait, 1u);
  EXPECT_EQ(p.link.b.host->stats().connections, 0u);
  // TIME-WAIT ends after 2 MSL (60 s).
  p.link.run_ticks(60 * Link::kTicksPerSecond + 10);
  EXPECT_EQ(p.link.a.host->stats().connections, 0u);
  EXPECT_EQ(p.link.ledger.live, 0);
}

void transfer_under(const Impairment& imp, uint64_t seed, size_t bytes) {
  Pair p({}, {}, seed);
  p.server.echo = true;
  p.server.close_on_peer_close = true;
  tcp::Connection* c = p.open();
  p.link.imp = imp;
  p.client.to_send = pattern(bytes, uint32_t(seed));
  p.client.shutdown_after_send = true;
  p.client.pump(*c);
  ASSERT_TRUE(p.link.run_until([&] { return p.client.closed && p.server.closed; }, 3'000'000))
      << "client " << p.client.received.size() << " server " << p.server.received.size();
  EXPECT_EQ(p.server.received.size(), bytes);
  EXPECT_TRUE(same(p.server.received, p.client.to_send));
  EXPECT_TRUE(same(p.client.received, p.client.to_send));
  p.link.run_ticks(61 * Link::kTicksPerSecond);
  EXPECT_EQ(p.link.a.host->stats().connections, 0u);
  EXPECT_EQ(p.link.ledger.live, 0);
}

TEST(TcpBasic, Echo_Survives2PercentLoss) { transfer_under({.loss = 0.02, .delay_ticks = 5}, 3, 1'000'000); }
TEST(TcpBasic, Echo_Survives10PercentLoss) { transfer_under({.loss = 0.10, .delay_ticks = 5}, 4, 300'000); }
TEST(TcpBasic, Echo_SurvivesReorderingAndDuplication) {
  transfer_under({.dup = 0.05, .reorder = 0.1, .delay_ticks = 5, .reorder_extra_ticks = 7}, 5, 1'000'000);
}
TEST(TcpBasic, Echo_SurvivesEverythingAtOnce) {
  transfer_under({.loss = 0.05, .dup = 0.05, .reorder = 0.1, .delay_ticks = 20, .reorder_extra_ticks = 11}, 6, 500'000);
}

}  // namespace
}  // namespace redline::testing
