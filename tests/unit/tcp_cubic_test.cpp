// CUBIC (RFC 9438): the curve's shape, and a transfer over the in-memory link with it.
#include "stack/tcp/cubic.hpp"
#include "tests/unit/tcp_link.hpp"

namespace redline::testing {
namespace {

constexpr uint32_t kMss = 1000;

TEST(TcpCubic, Loss_CutsToBetaAndRemembersWmax) {
  tcp::Cubic c;
  EXPECT_EQ(c.on_loss(100 * kMss, kMss), 70 * kMss);  // §4.6: β = 0.7
  EXPECT_DOUBLE_EQ(c.w_max(), 100);
  // §4.7 fast convergence: a loss below the previous W_max remembers less than the window.
  c.on_loss(80 * kMss, kMss);
  EXPECT_DOUBLE_EQ(c.w_max(), 80 * (1 + 0.7) / 2);
}

TEST(TcpCubic, Growth_IsConcaveUpToWmaxThenConvex) {
  // §4.2: from 70 segments after a loss at 100, the window climbs fast at first, flattens near
  // W_max = 100 around K = cbrt(30 / 0.4) ≈ 4.2 s, then accelerates past it. A 100 ms RTT, so
  // the curve, not the Reno-friendly estimate (§4.3, 0.53 segments per RTT), sets the pace.
  tcp::Cubic c;
  uint32_t cwnd = c.on_loss(100 * kMss, kMss);
  const uint32_t rtt_us = 100'000;
  std::vector<double> w;
  for (uint64_t t = 0; t <= 8'000'000; t += rtt_us) {
    cwnd = c.on_ack(cwnd, kMss, cwnd, t, rtt_us);  // one window acknowledged per RTT
    if (t % 1'000'000 == 0) w.push_back(double(cwnd) / kMss);  // once a second
  }
  EXPECT_NEAR(c.k(), std::cbrt(30 / 0.4), 1e-9);
  ASSERT_GE(w.size(), 8u);
  EXPECT_GT(w[1] - w[0], w[3] - w[2]);  // concave: slowing down towards W_max
  EXPECT_NEAR(w[4], 100, 6);            // at K, back near W_max
  EXPECT_GT(w[8] - w[7], w[6] - w[5]);  // convex: speeding up beyond it
  EXPECT_GT(w[8], 110);
}

TEST(TcpCubic, Transfer_CompletesUnderLoss) {
  tcp::Settings s;
  s.congestion = tcp::Congestion::kCubic;
  Link link(s, s, 1460, 9);
  App client, server;
  server.echo = true;
  server.close_on_peer_close = true;
  ASSERT_TRUE(link.b.host->listen(80, server));
  tcp::Connection* c = link.a.host->connect({kIpB, 80}, client);
  ASSERT_TRUE(link.run_until([&] { return client.connected && server.connected; }, 1000));
  link.imp = {.loss = 0.03, .delay_ticks = 10};
  client.to_send = pattern(1'000'000, 9);
  client.shutdown_after_send = true;
  client.pump(*c);
  ASSERT_TRUE(link.run_until([&] { return client.closed && server.closed; }, 3'000'000));
  EXPECT_TRUE(same(server.received, client.to_send));
  EXPECT_TRUE(same(client.received, client.to_send));
  EXPECT_GT(link.a.env.get(net::Counter::tcp_fast_retransmits), 0u);
}

}  // namespace
}  // namespace redline::testing
