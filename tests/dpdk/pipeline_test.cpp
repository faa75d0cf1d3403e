// The worker pipeline end to end on two real ethdev ports made from rings (rte_eth_from_rings):
// the test is the link partner on both sides, writing frames into RX rings and reading what
// redline transmits. One worker, driven step by step with poll_once().
#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>

#include <set>
#include <thread>

#include "drivers/port.hpp"
#include "stack/pipeline/worker.hpp"
#include "stack/wire/arp.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/udp.hpp"

using namespace redline;
using net::Counter;
using Frame = std::vector<uint8_t>;

namespace {
net::Ipv4Addr addr(const char* s) { return *net::Ipv4Addr::parse(s); }
net::MacAddr mac(const char* s) { return *net::MacAddr::parse(s); }

const net::MacAddr kMacA = mac("02:00:00:00:0a:01"), kHostA = mac("02:00:00:00:0a:02");
const net::MacAddr kMacB = mac("02:00:00:00:0b:01"), kHostB = mac("02:00:00:00:0b:02");

struct RingPort {
  rte_ring* rx = nullptr;  // we enqueue, redline receives
  rte_ring* tx = nullptr;  // redline transmits, we dequeue
  uint16_t id = 0;
};

Frame arp_frame(uint16_t op, net::MacAddr src_mac, net::Ipv4Addr src_ip, net::MacAddr dst_mac, net::Ipv4Addr target) {
  Frame f(wire::eth::kHeaderLen + wire::arp::kLen);
  wire::eth::write(f.data(), dst_mac, src_mac, wire::eth::kTypeArp);
  wire::arp::write(f.data() + wire::eth::kHeaderLen, {op, src_mac, src_ip, op == 1 ? net::MacAddr{} : dst_mac, target});
  return f;
}

Frame ipv4_frame(net::MacAddr dst_mac, net::MacAddr src_mac, net::Ipv4Addr src, net::Ipv4Addr dst, uint8_t proto,
                 const Frame& payload, uint8_t ttl = 64) {
  Frame f(wire::eth::kHeaderLen + 20 + payload.size());
  wire::eth::write(f.data(), dst_mac, src_mac, wire::eth::kTypeIpv4);
  wire::ipv4::Repr r;
  r.total_len = uint16_t(20 + payload.size());
  r.ttl = ttl;
  r.protocol = proto;
  r.src = src;
  r.dst = dst;
  r.ident = 0x4242;
  wire::ipv4::write(f.data() + wire::eth::kHeaderLen, r);
  std::copy(payload.begin(), payload.end(), f.begin() + wire::eth::kHeaderLen + 20);
  return f;
}

Frame echo_request(uint16_t seq) {
  Frame icmp = {8, 0, 0, 0, 0x12, 0x34, uint8_t(seq >> 8), uint8_t(seq), 'p', 'i', 'n', 'g'};
  wire::store16(icmp.data(), 2, wire::internet_checksum(icmp.data(), icmp.size()));
  return icmp;
}
}  // namespace

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pool_ = rte_pktmbuf_pool_create("pt_pool", 4096, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(pool_, nullptr);
    make_port("pt_a", &a_);
    make_port("pt_b", &b_);
  }
  static void make_port(const char* name, RingPort* p) {
    p->rx = rte_ring_create((std::string(name) + "_rx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    p->tx = rte_ring_create((std::string(name) + "_tx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    int id = rte_eth_from_rings(name, &p->rx, 1, &p->tx, 1, 0);
    ASSERT_GE(id, 0);
    p->id = uint16_t(id);
  }

  void SetUp() override { build(1000, 3); }

  void build(uint32_t retry_ms, uint32_t retries) {
    std::string error;
    static const rte_mbuf_dynfield field = {"redline_meta", sizeof(pipeline::MbufMeta), alignof(pipeline::MbufMeta), 0};
    shared_ = std::make_unique<pipeline::Shared>();
    pipeline::Shared& s = *shared_;
    s.meta_offset = rte_mbuf_dynfield_register(&field);
    s.pool = pool_;
    s.tsc_hz = rte_get_tsc_hz();
    s.settings.resolve = {uint64_t(retry_ms) * 1'000'000, retries};
    s.settings.icmp_error_rate = 1000;
    s.settings.icmp_error_burst = 1000;
    rss::RetaMirror reta(1);
    for (auto [port, mac_addr, addr] : {std::tuple{&a_, kMacA, "10.0.1.1/24"}, std::tuple{&b_, kMacB, "10.0.2.1/24"}}) {
      drivers::PortRequest req{"p", "", std::nullopt, 1500, 1, 256, 256};  // net_ring cannot set a MAC
      rte_eth_dev_stop(port->id);
      auto ready = drivers::configure_and_start(port->id, req, pool_, reta, &error);
      ASSERT_TRUE(ready) << error;
      pipeline::PortInfo info;
      info.dpdk_id = port->id;
      info.name = s.ports.empty() ? "a" : "b";
      info.mac = mac_addr;  // ring ports do not filter, so any MAC serves
      info.address = *net::Ipv4Prefix::parse(addr);
      s.ports.push_back(info);
    }
    routes_ = ip::RouteTable::create("pt_routes", 64, 0, &error);
    using Kind = ip::NextHop::Kind;
    for (uint16_t i = 0; i < 2; ++i) {
      auto a = s.ports[i].address;
      ASSERT_TRUE(routes_->add(a, {Kind::kForward, i, {}}, &error));
      ASSERT_TRUE(routes_->add({a.addr, 32}, {Kind::kLocal, i, {}}, &error));
      ASSERT_TRUE(routes_->add({a.directed_broadcast(), 32}, {Kind::kBroadcast, i, {}}, &error));
    }
    ASSERT_TRUE(routes_->add(*net::Ipv4Prefix::parse("10.0.3.0/24"), {Kind::kForward, 1, addr("10.0.2.2")}, &error));
    s.routes = routes_.get();
    neighbors_ = arp::NeighborTable::create("pt_neighbors", 64, 0, nullptr, &error);
    s.neighbors = neighbors_.get();
    s.handoff.assign(1, nullptr);
    s.arp_rings.assign(1, nullptr);
    s.index_addresses();
    worker_ = std::make_unique<pipeline::Worker>(s, 0);
    worker_->poll_once();  // gratuitous ARP goes out first
    take(a_);
    take(b_);
  }

  void TearDown() override {
    worker_->release();
    take(a_);
    take(b_);
    worker_.reset();
    neighbors_.reset();
    routes_.reset();
    rte_eth_dev_stop(a_.id);
    rte_eth_dev_stop(b_.id);
    EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u) << "mbufs leaked";
  }

  void inject(RingPort& p, const Frame& f) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
    ASSERT_EQ(rte_ring_enqueue(p.rx, m), 0);
  }
  std::vector<Frame> take(RingPort& p) {
    std::vector<Frame> out;
    void* m;
    while (rte_ring_dequeue(p.tx, &m) == 0) {
      auto* mb = static_cast<rte_mbuf*>(m);
      auto* d = rte_pktmbuf_mtod(mb, uint8_t*);
      out.emplace_back(d, d + rte_pktmbuf_data_len(mb));
      rte_pktmbuf_free(mb);
    }
    return out;
  }
  uint64_t counter(Counter c) const { return worker_->counters().get(c); }
  // Teaches redline a host's MAC the way a host would: by asking for redline's.
  void host_arps(RingPort& port, net::MacAddr mac, const char* ip, const char* router_ip) {
    inject(port, arp_frame(1, mac, addr(ip), net::MacAddr::broadcast(), addr(router_ip)));
    worker_->poll_once();
    take(port);
  }
  void host_a_arps() { host_arps(a_, kHostA, "10.0.1.2", "10.0.1.1"); }
  void host_b_arps() { host_arps(b_, kHostB, "10.0.2.2", "10.0.2.1"); }

  static inline rte_mempool* pool_ = nullptr;
  static inline RingPort a_, b_;
  std::unique_ptr<pipeline::Shared> shared_;
  std::unique_ptr<ip::RouteTable> routes_;
  std::unique_ptr<arp::NeighborTable> neighbors_;
  std::unique_ptr<pipeline::Worker> worker_;
};

TEST_F(PipelineTest, ArpRequestForOurAddress_IsAnsweredAndSenderLearned) {
  inject(a_, arp_frame(1, kHostA, addr("10.0.1.2"), net::MacAddr::broadcast(), addr("10.0.1.1")));
  worker_->poll_once();
  auto out = take(a_);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostA);
  EXPECT_EQ(wire::eth::src(out[0].data()), kMacA);
  auto reply = wire::arp::parse(out[0].data() + 14, out[0].size() - 14);
  ASSERT_TRUE(reply.repr);
  EXPECT_EQ(reply.repr->operation, wire::arp::kOpReply);
  EXPECT_EQ(reply.repr->sender_mac, kMacA);
  EXPECT_EQ(reply.repr->sender_ip, addr("10.0.1.1"));
  EXPECT_EQ(reply.repr->target_ip, addr("10.0.1.2"));
  EXPECT_EQ(neighbors_->lookup(addr("10.0.1.2"))->mac, kHostA);
  EXPECT_EQ(counter(Counter::arp_replies_sent), 1u);
}

TEST_F(PipelineTest, ArpForAnotherAddress_IsNotAnsweredNorLearned) {
  inject(a_, arp_frame(1, kHostA, addr("10.0.1.2"), net::MacAddr::broadcast(), addr("10.0.1.77")));
  worker_->poll_once();
  EXPECT_TRUE(take(a_).empty());
  EXPECT_FALSE(neighbors_->lookup(addr("10.0.1.2")));
  EXPECT_EQ(counter(Counter::arp_not_for_us), 1u);
}

TEST_F(PipelineTest, EchoRequest_IsAnsweredWithSwappedAddresses) {
  host_a_arps();
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 1, echo_request(7)));
  worker_->poll_once();
  auto out = take(a_);
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
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, 0), 9));
  worker_->poll_once();
  auto out = take(b_);
  ASSERT_EQ(out.size(), 1u);  // the ARP request for 10.0.2.2
  auto req = wire::arp::parse(out[0].data() + 14, out[0].size() - 14);
  ASSERT_TRUE(req.repr);
  EXPECT_EQ(req.repr->target_ip, addr("10.0.2.2"));
  EXPECT_EQ(counter(Counter::arp_queued), 1u);

  inject(b_, arp_frame(2, kHostB, addr("10.0.2.2"), kMacB, addr("10.0.2.1")));
  worker_->poll_once();
  out = take(b_);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostB);
  EXPECT_EQ(wire::eth::src(out[0].data()), kMacB);
  auto r = wire::ipv4::parse(out[0].data() + 14, out[0].size() - 14);
  ASSERT_TRUE(r.repr) << "checksum must still verify after the TTL change";
  EXPECT_EQ(r.repr->ttl, 8);

  // Now known: the next one goes straight through.
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, 0), 9));
  worker_->poll_once();
  EXPECT_EQ(take(b_).size(), 1u);
  EXPECT_EQ(counter(Counter::ipv4_forwarded), 2u);
}

TEST_F(PipelineTest, StaticRoute_SendsToItsGateway) {
  host_a_arps();
  host_b_arps();
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.3.1"), 17, Frame(12, 0)));
  worker_->poll_once();
  auto out = take(b_);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostB);
  EXPECT_EQ(wire::ipv4::dst(out[0].data() + 14), addr("10.0.3.1"));
}

TEST_F(PipelineTest, TtlOne_GetsTimeExceededFromIngressAddress) {
  host_a_arps();
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, 0), 1));
  worker_->poll_once();
  EXPECT_TRUE(take(b_).empty());
  auto out = take(a_);
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
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.3.5"), addr("10.0.2.2"), 17, Frame(12, 0), 1));
  worker_->poll_once();
  EXPECT_TRUE(take(a_).empty());
  auto out = take(b_);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* iph = out[0].data() + 14;
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostB);
  EXPECT_EQ(wire::ipv4::src(iph), addr("10.0.2.1"));
  EXPECT_EQ(wire::ipv4::dst(iph), addr("10.0.3.5"));
  EXPECT_EQ(wire::icmp::type(iph + 20), wire::icmp::kTimeExceeded);
}

TEST_F(PipelineTest, UnroutedDestination_GetsNetUnreachable) {
  host_a_arps();
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.9.9.9"), 17, Frame(12, 0)));
  worker_->poll_once();
  auto out = take(a_);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* iph = out[0].data() + 14;
  EXPECT_EQ(wire::icmp::type(iph + 20), wire::icmp::kDestUnreachable);
  EXPECT_EQ(wire::icmp::code(iph + 20), wire::icmp::kNetUnreachable);
  EXPECT_EQ(counter(Counter::ipv4_no_route), 1u);
}

TEST_F(PipelineTest, UdpToUs_GetsPortUnreachable_OtherProtocolGetsProtocolUnreachable) {
  host_a_arps();
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 17, Frame(12, 0)));
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 47, Frame(12, 0)));
  worker_->poll_once();
  auto out = take(a_);
  ASSERT_EQ(out.size(), 2u);
  // Stages run in graph order, not arrival order: compare as a set.
  std::set<uint8_t> codes{wire::icmp::code(out[0].data() + 34), wire::icmp::code(out[1].data() + 34)};
  EXPECT_EQ(codes, (std::set<uint8_t>{wire::icmp::kPortUnreachable, wire::icmp::kProtocolUnreachable}));
}

TEST_F(PipelineTest, MalformedFrames_AreDroppedByReason) {
  host_a_arps();
  Frame good = ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 1, echo_request(1));
  inject(a_, Frame(good.begin(), good.begin() + 10));  // shorter than Ethernet
  inject(a_, Frame(good.begin(), good.begin() + 30));  // IPv4 header cut short
  Frame bad = good;
  bad[14] = 0x44;  // IHL 4
  inject(a_, bad);
  bad = good;
  bad[14 + 10] ^= 0xff;  // checksum
  inject(a_, bad);
  bad = good;
  wire::store16(bad.data() + 14, 2, 200);  // total length beyond frame
  inject(a_, bad);
  bad = good;
  bad[14] = 0x65;  // version 6 in an IPv4 frame
  inject(a_, bad);
  Frame arp = arp_frame(1, kHostA, addr("10.0.1.2"), net::MacAddr::broadcast(), addr("10.0.1.1"));
  arp[14 + 4] = 8;  // hardware length
  inject(a_, arp);
  worker_->poll_once();
  EXPECT_TRUE(take(a_).empty());
  EXPECT_EQ(counter(Counter::eth_too_short), 1u);
  EXPECT_EQ(counter(Counter::ipv4_truncated), 1u);
  EXPECT_EQ(counter(Counter::ipv4_bad_ihl), 1u);
  EXPECT_EQ(counter(Counter::ipv4_bad_checksum), 1u);
  EXPECT_EQ(counter(Counter::ipv4_bad_total_length), 1u);
  EXPECT_EQ(counter(Counter::ipv4_bad_version), 1u);
  EXPECT_EQ(counter(Counter::arp_bad_hardware), 1u);
  inject(a_, good);  // still answering
  worker_->poll_once();
  EXPECT_EQ(take(a_).size(), 1u);
}

TEST_F(PipelineTest, UnansweredArp_DropsQueuedPacketsWithHostUnreachable) {
  TearDown();
  build(10, 2);  // 10 ms between requests, 2 in all
  host_a_arps();
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.99"), 17, Frame(12, 0)));
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.99"), 17, Frame(12, 0)));
  std::vector<Frame> back;
  size_t requests = 0;
  for (int i = 0; i < 100 && back.size() < 2; ++i) {
    worker_->poll_once();
    requests += take(b_).size();
    for (auto& f : take(a_)) back.push_back(f);
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
  inject(a_, ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 1, te, 1));
  // UDP to the directed broadcast: no port unreachable.
  inject(a_, ipv4_frame(net::MacAddr::broadcast(), kHostA, addr("10.0.1.2"), addr("10.0.1.255"), 17, Frame(12, 0)));
  worker_->poll_once();
  EXPECT_TRUE(take(a_).empty());
  EXPECT_EQ(counter(Counter::icmp_error_suppressed), 2u);
}
