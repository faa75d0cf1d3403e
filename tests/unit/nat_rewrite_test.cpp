// NAT translation of every packet kind, against packets scapy built with the translated
// addresses and ports and computed every checksum of itself (nat_golden.hpp).
#include <gtest/gtest.h>

#include "nat_golden.hpp"
#include "stack/nat/icmp_error.hpp"
#include "stack/nat/mss_clamp.hpp"
#include "stack/nat/rewrite.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/ipv4.hpp"

using namespace redline;
using namespace redline::golden::nat;
using nat::FiveTuple;

namespace {
// The tuple a NAT session keys this packet by: ports, or the echo identifier in both.
FiveTuple tuple_of(const std::vector<uint8_t>& p) {
  FiveTuple t;
  std::memcpy(&t.src_ip, &p[12], 4);
  std::memcpy(&t.dst_ip, &p[16], 4);
  t.protocol = p[9];
  const size_t hl = size_t(p[0] & 0xf) * 4;
  if (t.protocol == 1) {
    std::memcpy(&t.src_port, &p[hl + 4], 2);
    t.dst_port = t.src_port;
  } else {
    std::memcpy(&t.src_port, &p[hl], 2);
    std::memcpy(&t.dst_port, &p[hl + 2], 2);
  }
  return t;
}

std::vector<uint8_t> translated(const std::vector<uint8_t>& before, const std::vector<uint8_t>& after, bool has_l4 = true) {
  std::vector<uint8_t> p = before;
  const FiveTuple from = tuple_of(before);
  FiveTuple to = tuple_of(after);
  if (!has_l4) {  // a later fragment: its "ports" are payload; only the addresses count
    to.src_port = from.src_port;
    to.dst_port = from.dst_port;
  }
  const size_t hl = size_t(p[0] & 0xf) * 4;
  nat::apply(nat::make_rewrite(from, to), from.protocol, p.data(), has_l4 ? p.data() + hl : nullptr);
  return p;
}

bool ip_checksum_ok(const std::vector<uint8_t>& p) { return wire::checksum_ok(p.data(), size_t(p[0] & 0xf) * 4); }
}  // namespace

TEST(NatRewrite, TcpSynOutboundMatchesScapy) {
  auto p = translated(kTcpSynOut, kTcpSynOutNat);
  EXPECT_EQ(p, kTcpSynOutNat);
  EXPECT_TRUE(ip_checksum_ok(p));
}

TEST(NatRewrite, TcpSynAckInboundMatchesScapy) { EXPECT_EQ(translated(kTcpSynAckIn, kTcpSynAckInNat), kTcpSynAckInNat); }

TEST(NatRewrite, UdpBothDirectionsMatchScapy) {
  EXPECT_EQ(translated(kUdpOut, kUdpOutNat), kUdpOutNat);
  EXPECT_EQ(translated(kUdpIn, kUdpInNat), kUdpInNat);
}

TEST(NatRewrite, UdpWithoutChecksumKeepsNone) {
  auto p = translated(kUdpNoChecksumOut, kUdpNoChecksumOutNat);
  EXPECT_EQ(p, kUdpNoChecksumOutNat);
  EXPECT_EQ(p[26], 0);
  EXPECT_EQ(p[27], 0);
}

TEST(NatRewrite, EchoIdentifierMappedLikeAPort) {
  EXPECT_EQ(translated(kEchoOut, kEchoOutNat), kEchoOutNat);
  EXPECT_EQ(translated(kEchoReplyIn, kEchoReplyInNat), kEchoReplyInNat);
}

TEST(NatRewrite, ReverseOfARewriteRestoresThePacket) {
  auto there = translated(kUdpOut, kUdpOutNat);
  std::vector<uint8_t> back = there;
  nat::apply(nat::make_rewrite(tuple_of(kUdpOutNat), tuple_of(kUdpOut)), 17, back.data(), back.data() + 20);
  EXPECT_EQ(back, kUdpOut);
}

TEST(NatRewrite, FirstFragmentCarriesPortsAndWholeDatagramChecksum) {
  EXPECT_EQ(translated(kUdpFirstFragmentOut, kUdpFirstFragmentOutNat), kUdpFirstFragmentOutNat);
}

TEST(NatRewrite, LaterFragmentChangesOnlyTheIpHeader) {
  EXPECT_EQ(translated(kUdpLaterFragmentOut, kUdpLaterFragmentOutNat, false), kUdpLaterFragmentOutNat);
}

// Every 16-bit value of the changed words, including the 0x0000/0xffff corner of RFC 1624.
TEST(NatRewrite, IncrementalChecksumAgreesWithFullRecomputation) {
  std::vector<uint8_t> p = kUdpOut;
  for (uint32_t port = 0; port < 65536; port += 251) {
    FiveTuple from = tuple_of(p), to = from;
    to.src_port = net::to_be(uint16_t(port));
    to.src_ip = from.src_ip ^ net::to_be(port * 2654435761u);
    nat::apply(nat::make_rewrite(from, to), 17, p.data(), p.data() + 20);
    ASSERT_TRUE(ip_checksum_ok(p)) << port;
    // UDP: pseudo-header + datagram sums to all ones.
    uint32_t sum = 0;
    for (size_t i = 12; i < 20; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
    sum += 17 + (p.size() - 20);
    const uint16_t folded = wire::ones_complement_sum(p.data() + 20, p.size() - 20, sum);
    ASSERT_EQ(folded, 0xffff) << port;
  }
}

TEST(NatIcmpError, TimeExceededQuotingUdpTranslatedInbound) {
  std::vector<uint8_t> p = kTimeExceededUdpIn;
  auto q = nat::parse_icmp_error(p.data(), p.size());
  ASSERT_TRUE(q);
  auto qn = nat::parse_icmp_error(kTimeExceededUdpInNat.data(), kTimeExceededUdpInNat.size());
  nat::rewrite_icmp_error(p.data(), p.size(), *q, qn->tuple, false);
  EXPECT_EQ(p, kTimeExceededUdpInNat);
}

TEST(NatIcmpError, FragmentationNeededQuotingTcpTranslatedInbound) {
  std::vector<uint8_t> p = kFragNeededTcpIn;
  auto q = nat::parse_icmp_error(p.data(), p.size());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->tuple.protocol, 6);
  auto qn = nat::parse_icmp_error(kFragNeededTcpInNat.data(), kFragNeededTcpInNat.size());
  nat::rewrite_icmp_error(p.data(), p.size(), *q, qn->tuple, false);
  EXPECT_EQ(p, kFragNeededTcpInNat);
}

TEST(NatIcmpError, UnreachableQuotingEchoTranslatedInbound) {
  std::vector<uint8_t> p = kHostUnreachEchoIn;
  auto q = nat::parse_icmp_error(p.data(), p.size());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->tuple.src_port, q->tuple.dst_port);  // the identifier, as a port
  auto qn = nat::parse_icmp_error(kHostUnreachEchoInNat.data(), kHostUnreachEchoInNat.size());
  nat::rewrite_icmp_error(p.data(), p.size(), *q, qn->tuple, false);
  EXPECT_EQ(p, kHostUnreachEchoInNat);
}

TEST(NatIcmpError, ErrorFromInsideTranslatedOutbound) {
  std::vector<uint8_t> p = kPortUnreachOut;
  auto q = nat::parse_icmp_error(p.data(), p.size());
  ASSERT_TRUE(q);
  auto qn = nat::parse_icmp_error(kPortUnreachOutNat.data(), kPortUnreachOutNat.size());
  nat::rewrite_icmp_error(p.data(), p.size(), *q, qn->tuple, true);
  EXPECT_EQ(p, kPortUnreachOutNat);
}

TEST(NatIcmpError, ErrorFromAnInsideRouterLeavesFromTheExternalAddress) {
  std::vector<uint8_t> p = kTimeExceededFromInsideRouter;
  auto q = nat::parse_icmp_error(p.data(), p.size());
  ASSERT_TRUE(q);
  auto qn = nat::parse_icmp_error(kTimeExceededFromInsideRouterNat.data(), kTimeExceededFromInsideRouterNat.size());
  nat::rewrite_icmp_error(p.data(), p.size(), *q, qn->tuple, true);
  EXPECT_EQ(p, kTimeExceededFromInsideRouterNat);
}

TEST(NatIcmpError, NotAnErrorOrCutShortIsNotParsed) {
  EXPECT_FALSE(nat::parse_icmp_error(kEchoOut.data(), kEchoOut.size()));
  EXPECT_FALSE(nat::parse_icmp_error(kUdpOut.data(), kUdpOut.size()));
  // A quote shorter than an IP header and 8 bytes.
  EXPECT_FALSE(nat::parse_icmp_error(kTimeExceededUdpIn.data(), 20 + 8 + 20 + 7));
}

TEST(NatMssClamp, LowersMssAndChecksumMatchesScapy) {
  std::vector<uint8_t> p = kTcpSynOut;
  EXPECT_TRUE(nat::clamp_mss(p.data() + 20, p.size() - 20, 1360));
  EXPECT_EQ(p, kTcpSynMssClamped);
}

TEST(NatMssClamp, OptionAtAnOddOffset) {
  std::vector<uint8_t> p = kTcpSynNopMss;
  EXPECT_TRUE(nat::clamp_mss(p.data() + 20, p.size() - 20, 1360));
  EXPECT_EQ(p, kTcpSynNopMssClamped);
}

TEST(NatMssClamp, SmallerMssAndNoOptionLeftAlone) {
  std::vector<uint8_t> p = kTcpSynMssClamped;
  EXPECT_FALSE(nat::clamp_mss(p.data() + 20, p.size() - 20, 1400));
  EXPECT_EQ(p, kTcpSynMssClamped);
  std::vector<uint8_t> ack = kTcpSynAckIn;  // no options
  EXPECT_FALSE(nat::clamp_mss(ack.data() + 20, ack.size() - 20, 536));
}

TEST(NatMssClamp, MalformedOptionsAreNotTouched) {
  std::vector<uint8_t> p = kTcpSynOut;
  p[20 + 21] = 0;  // the MSS option's length: 0
  const auto copy = p;
  EXPECT_FALSE(nat::clamp_mss(p.data() + 20, p.size() - 20, 1360));
  EXPECT_EQ(p, copy);
}
