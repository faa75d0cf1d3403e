// The TCP state a NAT session follows (RFC 5382 §5) and which idle timeout applies.
#include <gtest/gtest.h>

#include "stack/nat/tcp_tracking.hpp"

using namespace redline::nat;

namespace {
constexpr bool kInitiator = true, kAnswerer = false;
TcpTracking opened() {
  TcpTracking t;
  t.on_segment(kTcpSyn, kInitiator);
  t.on_segment(kTcpSyn | kTcpAck, kAnswerer);
  t.on_segment(kTcpAck, kInitiator);
  return t;
}
}  // namespace

TEST(NatTcp, SynOnlyIsTransitory) {
  TcpTracking t;
  t.on_segment(kTcpSyn, kInitiator);
  EXPECT_EQ(t.state, TcpState::kSynSent);
  EXPECT_FALSE(t.established());
}

TEST(NatTcp, SynReceived_AckEstablishes) {
  TcpTracking t;
  t.on_segment(kTcpSyn, kInitiator);
  t.on_segment(kTcpSyn | kTcpAck, kAnswerer);
  EXPECT_EQ(t.state, TcpState::kSynReceived);
  EXPECT_FALSE(t.established());
  t.on_segment(kTcpAck, kInitiator);
  EXPECT_TRUE(t.established());
}

TEST(NatTcp, SynAckFromInitiatorDoesNotAdvance) {
  TcpTracking t;
  t.on_segment(kTcpSyn, kInitiator);
  t.on_segment(kTcpSyn | kTcpAck, kInitiator);
  EXPECT_EQ(t.state, TcpState::kSynSent);
}

TEST(NatTcp, HalfCloseStaysEstablished) {
  TcpTracking t = opened();
  t.on_segment(kTcpFin | kTcpAck, kInitiator);
  EXPECT_EQ(t.state, TcpState::kFinOne);
  EXPECT_TRUE(t.established());  // the other side may still send for hours
  t.on_segment(kTcpAck, kAnswerer);
  EXPECT_TRUE(t.established());
}

TEST(NatTcp, FinBothWaysIsTransitory) {
  TcpTracking t = opened();
  t.on_segment(kTcpFin | kTcpAck, kInitiator);
  t.on_segment(kTcpFin | kTcpAck, kAnswerer);
  EXPECT_EQ(t.state, TcpState::kFinBoth);
  EXPECT_FALSE(t.established());
}

TEST(NatTcp, RepeatedFinFromOneSideIsNotBoth) {
  TcpTracking t = opened();
  t.on_segment(kTcpFin | kTcpAck, kAnswerer);
  t.on_segment(kTcpFin | kTcpAck, kAnswerer);  // a retransmission
  EXPECT_EQ(t.state, TcpState::kFinOne);
}

TEST(NatTcp, RstIsTransitoryFromAnyState) {
  TcpTracking t = opened();
  t.on_segment(kTcpRst, kAnswerer);
  EXPECT_EQ(t.state, TcpState::kReset);
  EXPECT_FALSE(t.established());
}

TEST(NatTcp, NewSynAfterCloseStartsOver) {
  TcpTracking t = opened();
  t.on_segment(kTcpFin | kTcpAck, kInitiator);
  t.on_segment(kTcpFin | kTcpAck, kAnswerer);
  EXPECT_TRUE(t.on_segment(kTcpSyn, kInitiator));  // a quickly reused 4-tuple (TIME-WAIT)
  EXPECT_EQ(t.state, TcpState::kSynSent);
  t.on_segment(kTcpSyn | kTcpAck, kAnswerer);
  t.on_segment(kTcpAck, kInitiator);
  EXPECT_TRUE(t.established());
}

TEST(NatTcp, NewSynAfterResetStartsOver) {
  TcpTracking t = opened();
  t.on_segment(kTcpRst, kInitiator);
  EXPECT_TRUE(t.on_segment(kTcpSyn, kInitiator));
  EXPECT_EQ(t.state, TcpState::kSynSent);
}

TEST(NatTcp, RetransmittedSynWhileOpeningChangesNothing) {
  TcpTracking t;
  t.on_segment(kTcpSyn, kInitiator);
  EXPECT_FALSE(t.on_segment(kTcpSyn, kInitiator));
  EXPECT_EQ(t.state, TcpState::kSynSent);
}
