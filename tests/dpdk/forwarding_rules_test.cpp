// Forwarding rules from the foundation's review, fragmentation in transit and chained mbufs,
// each on the ring-port rig with one worker.
#include "tests/dpdk/pipeline_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

namespace {
const wire::ipv4::Repr parsed(const Frame& f) {
  auto r = wire::ipv4::parse(f.data() + 14, f.size() - 14);
  EXPECT_TRUE(r.repr) << "header invalid";
  return r.repr.value_or(wire::ipv4::Repr{});
}
}  // namespace

TEST(ForwardingRules, DirectedBroadcastOfAConnectedNetworkIsAMartianSource) {
  // RFC 1812 §5.3.7 / §4.2.3.1: 10.0.2.255 names no single host.
  Rig rig;
  rig.host_b_arps();
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.2.255"), addr("10.0.2.2"), 17, Frame(12, 0)));
  rig.poll();
  EXPECT_TRUE(rig.take(rig.b()).empty());
  EXPECT_EQ(rig.counter(Counter::ipv4_bad_source), 1u);
}

TEST(ForwardingRules, ClassEDestinationIsNotForwarded) {
  // RFC 1812 §5.3.7: 240.0.0.0/4 is reserved; a router does not forward it (a default route
  // would otherwise carry it).
  Rig rig;
  rig.host_a_arps();
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("240.0.0.1"), 17, Frame(12, 0)));
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("250.1.2.3"), 17, Frame(12, 0)));
  rig.poll();
  EXPECT_TRUE(rig.take(rig.a()).empty()) << "no error either: the destination names nothing";
  EXPECT_EQ(rig.counter(Counter::ipv4_bad_destination), 2u);
}

TEST(ForwardingRules, EchoRequestWithOptionsIsAnsweredWithoutThem) {
  // RFC 1122 §3.2.2.6 lets the reply carry no options when redline neither records nor source
  // routes (stated in local_stages.cpp). A record-route option (type 7, 11 bytes + EOL pad).
  Rig rig;
  rig.host_a_arps();
  Frame icmp = echo_request(5, 16);
  Frame f = ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 1, icmp);
  const Frame options = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  f.insert(f.begin() + 34, options.begin(), options.end());
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x48;  // IHL 8: 32 bytes
  wire::store16(ip, wire::ipv4::kTotalLength, uint16_t(32 + icmp.size()));
  wire::store16(ip, wire::ipv4::kChecksum, 0);
  wire::store16(ip, wire::ipv4::kChecksum, wire::internet_checksum(ip, 32));
  rig.inject(rig.a(), f);
  rig.poll();
  auto out = rig.take(rig.a());
  ASSERT_EQ(out.size(), 1u);
  auto r = parsed(out[0]);
  EXPECT_EQ(r.header_len, 20);
  EXPECT_EQ(r.dst, addr("10.0.1.2"));
  EXPECT_EQ(r.total_len, 20 + icmp.size());
  const uint8_t* reply = out[0].data() + 34;
  EXPECT_EQ(wire::icmp::type(reply), wire::icmp::kEchoReply);
  EXPECT_TRUE(wire::checksum_ok(reply, icmp.size()));
  EXPECT_TRUE(std::equal(icmp.begin() + 4, icmp.end(), reply + 4)) << "identifier, sequence and data kept";
}

TEST(ForwardingRules, DatagramLargerThanTheEgressMtuIsFragmented) {
  // RFC 1812 §5.2.6: without DF a router must fragment. 4000 bytes onto a 1500-byte MTU.
  RigOptions o;
  o.mtu_a = 9000;
  Rig rig(o);
  rig.host_a_arps();
  rig.host_b_arps();
  Frame udp(3980, 0);
  for (size_t i = 0; i < udp.size(); ++i) udp[i] = uint8_t(i * 7);
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, udp, 9));
  rig.poll();
  auto out = rig.take(rig.b());
  ASSERT_EQ(out.size(), 3u);
  Frame joined(udp.size());
  size_t covered = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    auto r = parsed(out[i]);
    EXPECT_LE(r.total_len, 1500);
    EXPECT_EQ(r.ttl, 8);
    EXPECT_EQ(r.ident, 0x4242);
    const size_t offset = size_t(r.flags_fragment & wire::ipv4::kFragmentOffsetMask) * 8;
    const bool more = r.flags_fragment & wire::ipv4::kFlagMoreFragments;
    EXPECT_EQ(more, i + 1 < out.size());
    const size_t len = r.total_len - r.header_len;
    ASSERT_LE(offset + len, joined.size());
    std::copy(out[i].begin() + 14 + r.header_len, out[i].begin() + 14 + r.total_len, joined.begin() + long(offset));
    covered += len;
    EXPECT_EQ(wire::eth::dst(out[i].data()), kHostB);
  }
  EXPECT_EQ(covered, udp.size());
  EXPECT_EQ(joined, udp);
  EXPECT_EQ(rig.counter(Counter::ipv4_fragmented), 1u);
  EXPECT_EQ(rig.counter(Counter::ipv4_fragments_created), 3u);
}

TEST(ForwardingRules, DontFragmentDatagramTooBigGetsFragmentationNeeded) {
  RigOptions o;
  o.mtu_a = 9000;
  Rig rig(o);
  rig.host_a_arps();
  rig.host_b_arps();
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(3980, 0), 9,
                                 wire::ipv4::kFlagDontFragment));
  rig.poll();
  EXPECT_TRUE(rig.take(rig.b()).empty());
  auto back = rig.take(rig.a());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(wire::icmp::code(back[0].data() + 34), wire::icmp::kFragmentationNeeded);
  EXPECT_EQ(wire::load16(back[0].data() + 34, 6), 1500) << "next-hop MTU (RFC 1191 §4)";
  EXPECT_EQ(rig.counter(Counter::ipv4_mtu_exceeded), 1u);
}

TEST(ForwardingRules, ChainedMbufIsForwardedWhole) {
  // Policy (classify_stage.cpp): chains are accepted; headers split across segments are made
  // contiguous; what reaches a TX queue is one segment (output_stage.cpp).
  Rig rig;
  rig.host_a_arps();
  rig.host_b_arps();
  Frame udp(200, 0);
  for (size_t i = 0; i < udp.size(); ++i) udp[i] = uint8_t(i);
  const Frame f = ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, udp, 9);
  for (size_t split : {size_t(20), size_t(60)}) {  // inside the IP header; after the headers
    rte_mbuf* head = rig.mbuf(Frame(f.begin(), f.begin() + long(split)));
    rte_mbuf* tail = rig.mbuf(Frame(f.begin() + long(split), f.end()));
    ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);
    rig.inject(rig.a(), head);
    rig.poll();
    auto out = rig.take(rig.b());
    ASSERT_EQ(out.size(), 1u) << "split at " << split;
    EXPECT_EQ(out[0].size(), f.size());
    EXPECT_EQ(parsed(out[0]).ttl, 8);
    EXPECT_TRUE(std::equal(f.begin() + 34, f.end(), out[0].begin() + 34)) << "payload intact";
  }
}

TEST(ForwardingRules, UnfinishedDatagramTimesOutAndItsFragmentsAreFreed) {
  RigOptions o;
  o.tweak = [](pipeline::Shared& s) { s.settings.reassembly_timeout_ms = 10; };
  Rig rig(o);
  rig.host_a_arps();
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 1, echo_request(1, 1472), 64,
                                 wire::ipv4::kFlagMoreFragments));
  const uint64_t t0 = rte_rdtsc();
  rig.poll(0, t0);
  EXPECT_EQ(rig.counter(Counter::ipv4_fragment_local), 1u);
  const uint64_t later = t0 + rte_get_tsc_hz() / 10;  // 100 ms on
  for (int i = 0; i < 4; ++i) rig.poll(0, later + uint64_t(i) * rte_get_tsc_hz() / 100);
  EXPECT_EQ(rig.counter(Counter::ipv4_reassembly_timeout), 1u);
  EXPECT_EQ(rig.counter(Counter::ipv4_reassembled), 0u);
}

TEST(ForwardingRules, TxPacketsCountsWhatTheQueueTookAndDropsApart) {
  // A TX ring with room for 63 frames that nobody empties: 96 forwarded packets, 33 dropped.
  RigOptions o;
  o.ring_size = 64;
  Rig rig(o);
  rig.host_a_arps();
  rig.host_b_arps();
  const uint64_t tx0 = rig.counter(Counter::tx_packets);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 32; ++i)
      rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, 0)));
    rig.poll();
  }
  EXPECT_EQ(rig.counter(Counter::tx_packets) - tx0, 63u);
  EXPECT_EQ(rig.counter(Counter::tx_dropped), 33u);
  EXPECT_EQ(rig.take(rig.b()).size(), 63u);
}

TEST(ForwardingRules, SettingsPublishedWhileRunningAreAdoptedAtTheNextIteration) {
  // What reload does for [icmp]: a new settings copy; error_rate 0 turns ICMP errors off.
  Rig rig;
  rig.host_a_arps();
  const Frame unrouted = ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.9.9.9"), 17, Frame(12, 0));
  rig.inject(rig.a(), unrouted);
  rig.poll();
  EXPECT_EQ(rig.take(rig.a()).size(), 1u) << "net unreachable";
  auto quiet = std::make_unique<pipeline::Settings>(rig.shared().settings);
  quiet->icmp_error_rate = 0;
  rig.shared().live_settings.store(quiet.get(), std::memory_order_release);
  rig.inject(rig.a(), unrouted);
  rig.poll();
  EXPECT_TRUE(rig.take(rig.a()).empty());
  EXPECT_EQ(rig.counter(Counter::icmp_rate_limited), 1u);
  rig.shared().live_settings.store(nullptr);
}
