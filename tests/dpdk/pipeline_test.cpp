// The worker pipeline end to end on two ring-backed ethdev ports (pipeline_rig.hpp), one
// worker driven step by step.
#include <set>
#include <thread>

#include "tests/dpdk/pipeline_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override { build(1000, 3); }
  void build(uint32_t retry_ms, uint32_t retries) {
    rig_.reset();
    RigOptions o;
    o.retry_ms = retry_ms;
    o.retries = retries;
    rig_ = std::make_unique<Rig>(o);
  }
  void TearDown() override { rig_.reset(); }

  void inject(RingPort& p, const Frame& f) { rig_->inject(p, f); }
  std::vector<Frame> take(RingPort& p) { return rig_->take(p); }
  uint64_t counter(Counter c) const { return rig_->counter(c); }
  void host_a_arps() { rig_->host_a_arps(); }
  void host_b_arps() { rig_->host_b_arps(); }

  std::unique_ptr<Rig> rig_;
};

TEST_F(PipelineTest, ArpRequestForOurAddress_IsAnsweredAndSenderLearned) {
  inject(rig_->a(), arp_frame(1, kHostA, addr("10.0.1.2"), net::MacAddr::broadcast(), addr("10.0.1.1")));
  rig_->poll();
  auto out = take(rig_->a());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostA);
  EXPECT_EQ(wire::eth::src(out[0].data()), kMacA);
  auto reply = wire::arp::parse(out[0].data() + 14, out[0].size() - 14);
  ASSERT_TRUE(reply.repr);
  EXPECT_EQ(reply.repr->operation, wire::arp::kOpReply);
  EXPECT_EQ(reply.repr->sender_mac, kMacA);
  EXPECT_EQ(reply.repr->sender_ip, addr("10.0.1.1"));
  EXPECT_EQ(reply.repr->target_ip, addr("10.0.1.2"));
  EXPECT_EQ(rig_->neighbors().lookup(addr("10.0.1.2"))->mac, kHostA);
  EXPECT_EQ(counter(Counter::arp_replies_sent), 1u);
}

TEST_F(PipelineTest, ArpForAnotherAddress_IsNotAnsweredNorLearned) {
  inject(rig_->a(), arp_frame(1, kHostA, addr("10.0.1.2"), net::MacAddr::broadcast(), addr("10.0.1.77")));
  rig_->poll();
  EXPECT_TRUE(take(rig_->a()).empty());
  EXPECT_FALSE(rig_->neighbors().lookup(addr("10.0.1.2")));
  EXPECT_EQ(counter(Counter::arp_for_others), 1u);
}

TEST_F(PipelineTest, EchoRequest_IsAnsweredWithSwappedAddresses) {
  host_a_arps();
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 1, echo_request(7)));
  rig_->poll();
  auto out = take(rig_->a());
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* iph = out[0].data() + 14;
  auto r = wire::ipv4::parse(iph, out[0].size() - 14);
  ASSERT_TRUE(r.repr);
  EXPECT_EQ(r.repr->src, addr("10.0.1.1"));
  EXPECT_EQ(r.repr->dst, addr("10.0.1.2"));
  EXPECT_EQ(wire::icmp::type(iph + 20), wire::icmp::kEchoReply);
  EXPECT_TRUE(wire::checksum_ok(iph + 20, r.repr->total_len - 20u));
  EXPECT_EQ(wire::load16(iph + 20, 6), 7);
  EXPECT_EQ(counter(Counter::icmp_echo_replied), 1u);
}

TEST_F(PipelineTest, ForwardedPacket_WaitsForArpThenLeavesWithTtlDecremented) {
  host_a_arps();
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, 0), 9));
  rig_->poll();
  auto out = take(rig_->b());
  ASSERT_EQ(out.size(), 1u);  // the ARP request for 10.0.2.2
  auto req = wire::arp::parse(out[0].data() + 14, out[0].size() - 14);
  ASSERT_TRUE(req.repr);
  EXPECT_EQ(req.repr->target_ip, addr("10.0.2.2"));
  EXPECT_EQ(counter(Counter::arp_queued), 1u);

  inject(rig_->b(), arp_frame(2, kHostB, addr("10.0.2.2"), kMacB, addr("10.0.2.1")));
  rig_->poll();
  out = take(rig_->b());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostB);
  EXPECT_EQ(wire::eth::src(out[0].data()), kMacB);
  auto r = wire::ipv4::parse(out[0].data() + 14, out[0].size() - 14);
  ASSERT_TRUE(r.repr) << "checksum must still verify after the TTL change";
  EXPECT_EQ(r.repr->ttl, 8);

  // Now known: the next one goes straight through.
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, 0), 9));
  rig_->poll();
  EXPECT_EQ(take(rig_->b()).size(), 1u);
  EXPECT_EQ(counter(Counter::ipv4_forwarded), 2u);
}

TEST_F(PipelineTest, StaticRoute_SendsToItsGateway) {
  host_a_arps();
  host_b_arps();
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.3.1"), 17, Frame(12, 0)));
  rig_->poll();
  auto out = take(rig_->b());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostB);
  EXPECT_EQ(wire::ipv4::dst(out[0].data() + 14), addr("10.0.3.1"));
}

TEST_F(PipelineTest, TtlOne_GetsTimeExceededFromIngressAddress) {
  host_a_arps();
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, 0), 1));
  rig_->poll();
  EXPECT_TRUE(take(rig_->b()).empty());
  auto out = take(rig_->a());
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* iph = out[0].data() + 14;
  EXPECT_EQ(wire::ipv4::src(iph), addr("10.0.1.1"));
  EXPECT_EQ(wire::ipv4::dst(iph), addr("10.0.1.2"));
  EXPECT_EQ(wire::icmp::type(iph + 20), wire::icmp::kTimeExceeded);
  EXPECT_EQ(counter(Counter::ipv4_ttl_expired), 1u);
}

TEST_F(PipelineTest, IcmpErrorLeavesByTheRouteBackWithThatInterfacesAddress) {
  // RFC 1812 §4.3.2.4: a probe from 10.0.3.5 (routed via B) that arrives on A with TTL 1 gets its
  // time exceeded out of B, from B's address.
  host_b_arps();
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.3.5"), addr("10.0.2.2"), 17, Frame(12, 0), 1));
  rig_->poll();
  EXPECT_TRUE(take(rig_->a()).empty());
  auto out = take(rig_->b());
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* iph = out[0].data() + 14;
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostB);
  EXPECT_EQ(wire::ipv4::src(iph), addr("10.0.2.1"));
  EXPECT_EQ(wire::ipv4::dst(iph), addr("10.0.3.5"));
  EXPECT_EQ(wire::icmp::type(iph + 20), wire::icmp::kTimeExceeded);
}

TEST_F(PipelineTest, UnroutedDestination_GetsNetUnreachable) {
  host_a_arps();
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.9.9.9"), 17, Frame(12, 0)));
  rig_->poll();
  auto out = take(rig_->a());
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* iph = out[0].data() + 14;
  EXPECT_EQ(wire::icmp::type(iph + 20), wire::icmp::kDestUnreachable);
  EXPECT_EQ(wire::icmp::code(iph + 20), wire::icmp::kNetUnreachable);
  EXPECT_EQ(counter(Counter::ipv4_no_route), 1u);
}

TEST_F(PipelineTest, UdpToUs_GetsPortUnreachable_OtherProtocolGetsProtocolUnreachable) {
  host_a_arps();
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 17, Frame(12, 0)));
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 47, Frame(12, 0)));
  rig_->poll();
  auto out = take(rig_->a());
  ASSERT_EQ(out.size(), 2u);
  // Stages run in graph order, not arrival order: compare as a set.
  std::set<uint8_t> codes{wire::icmp::code(out[0].data() + 34), wire::icmp::code(out[1].data() + 34)};
  EXPECT_EQ(codes, (std::set<uint8_t>{wire::icmp::kPortUnreachable, wire::icmp::kProtocolUnreachable}));
}

TEST_F(PipelineTest, MalformedFrames_AreDroppedByReason) {
  host_a_arps();
  Frame good = ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 1, echo_request(1));
  inject(rig_->a(), Frame(good.begin(), good.begin() + 10));  // shorter than Ethernet
  inject(rig_->a(), Frame(good.begin(), good.begin() + 30));  // IPv4 header cut short
  Frame bad = good;
  bad[14] = 0x44;  // IHL 4
  inject(rig_->a(), bad);
  bad = good;
  bad[14 + 10] ^= 0xff;  // checksum
  inject(rig_->a(), bad);
  bad = good;
  wire::store16(bad.data() + 14, 2, 200);  // total length beyond frame
  inject(rig_->a(), bad);
  bad = good;
  bad[14] = 0x65;  // version 6 in an IPv4 frame
  inject(rig_->a(), bad);
  Frame arp = arp_frame(1, kHostA, addr("10.0.1.2"), net::MacAddr::broadcast(), addr("10.0.1.1"));
  arp[14 + 4] = 8;  // hardware length
  inject(rig_->a(), arp);
  rig_->poll();
  EXPECT_TRUE(take(rig_->a()).empty());
  EXPECT_EQ(counter(Counter::eth_too_short), 1u);
  EXPECT_EQ(counter(Counter::ipv4_truncated), 1u);
  EXPECT_EQ(counter(Counter::ipv4_bad_ihl), 1u);
  EXPECT_EQ(counter(Counter::ipv4_bad_checksum), 1u);
  EXPECT_EQ(counter(Counter::ipv4_bad_total_length), 1u);
  EXPECT_EQ(counter(Counter::ipv4_bad_version), 1u);
  EXPECT_EQ(counter(Counter::arp_bad_hardware), 1u);
  inject(rig_->a(), good);  // still answering
  rig_->poll();
  EXPECT_EQ(take(rig_->a()).size(), 1u);
}

TEST_F(PipelineTest, UnansweredArp_DropsQueuedPacketsWithHostUnreachable) {
  TearDown();
  build(10, 2);  // 10 ms between requests, 2 in all
  host_a_arps();
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.99"), 17, Frame(12, 0)));
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.99"), 17, Frame(12, 0)));
  std::vector<Frame> back;
  size_t requests = 0;
  for (int i = 0; i < 100 && back.size() < 2; ++i) {
    rig_->poll();
    requests += take(rig_->b()).size();
    for (auto& f : take(rig_->a())) back.push_back(f);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(requests, 2u);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(wire::icmp::code(back[0].data() + 34), wire::icmp::kHostUnreachable);
  EXPECT_EQ(counter(Counter::arp_resolve_failed), 2u);
}

TEST_F(PipelineTest, ErrorsAboutErrorsAndBroadcastsAreNotSent) {
  host_a_arps();
  // A time-exceeded message in transit with TTL 1: no error about an error.
  Frame te = {11, 0, 0, 0, 0, 0, 0, 0};
  wire::store16(te.data(), 2, wire::internet_checksum(te.data(), te.size()));
  inject(rig_->a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 1, te, 1));
  // UDP to the directed broadcast: no port unreachable.
  inject(rig_->a(), ipv4_frame(net::MacAddr::broadcast(), kHostA, addr("10.0.1.2"), addr("10.0.1.255"), 17, Frame(12, 0)));
  rig_->poll();
  EXPECT_TRUE(take(rig_->a()).empty());
  EXPECT_EQ(counter(Counter::icmp_error_suppressed), 2u);
}

TEST_F(PipelineTest, ClassifyDropsEachFrameItMustNotForward_AndForwardsTheUncommonValidOnes) {
  // The classify stage checks the common case inline and sends everything else to its full
  // checks: each exception below takes the slow path and meets its own counter or is forwarded.
  host_b_arps();
  const auto to_b = [](net::MacAddr dst_mac, net::Ipv4Addr src) {
    return ipv4_frame(dst_mac, kHostA, src, addr("10.0.2.2"), 17, Frame(12, 0));
  };
  inject(rig_->a(), to_b(kHostB, addr("10.0.1.2")));  // another station's MAC
  Frame other_type = to_b(kMacA, addr("10.0.1.2"));
  wire::store16(other_type.data(), wire::eth::kType, 0x86dd);
  inject(rig_->a(), other_type);
  // RFC 1812 §5.3.4: a unicast datagram in a link-layer broadcast is not forwarded.
  inject(rig_->a(), to_b(net::MacAddr::broadcast(), addr("10.0.1.2")));
  // RFC 1812 §5.3.7: loopback, multicast, class E, "this network" and our own address as source.
  for (const char* src : {"127.0.0.1", "224.0.0.5", "240.0.0.1", "0.1.2.3", "10.0.1.1"})
    inject(rig_->a(), to_b(kMacA, addr(src)));
  // Valid and forwarded: 0.0.0.0 is not (only to the limited broadcast), but a header with
  // options is, and so is a plain one.
  inject(rig_->a(), to_b(kMacA, addr("0.0.0.0")));
  Frame options = to_b(kMacA, addr("10.0.1.2"));
  options.insert(options.begin() + 34, {1, 1, 1, 0});  // NOP, NOP, NOP, end of options
  uint8_t* ip = options.data() + 14;
  ip[0] = 0x46;
  wire::store16(ip, wire::ipv4::kTotalLength, uint16_t(24 + 12));
  wire::store16(ip, wire::ipv4::kChecksum, 0);
  wire::store16(ip, wire::ipv4::kChecksum, wire::internet_checksum(ip, 24));
  inject(rig_->a(), options);
  inject(rig_->a(), to_b(kMacA, addr("10.0.1.2")));
  rig_->poll();
  auto out = take(rig_->b());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(wire::ipv4::header_len(out[0].data() + 14), 24) << "options kept in transit";
  EXPECT_TRUE(wire::checksum_ok(out[0].data() + 14, 24));
  EXPECT_EQ(out[0][14 + wire::ipv4::kTtl], 63);
  EXPECT_EQ(wire::ipv4::header_len(out[1].data() + 14), 20);
  EXPECT_EQ(counter(Counter::eth_for_others), 1u);
  EXPECT_EQ(counter(Counter::eth_unsupported_type), 1u);
  EXPECT_EQ(counter(Counter::ipv4_not_forwarded), 1u);
  EXPECT_EQ(counter(Counter::ipv4_bad_source), 6u);
}
