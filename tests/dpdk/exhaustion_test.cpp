// Exhaustion (issue 21): each bounded queue of the pipeline, filled past its bound, gives a
// counted drop; traffic that does not need it keeps flowing meanwhile, and once the pressure
// stops the queue serves again. (The NAT's tables and ports: nat_test.cpp; TCP's connection
// table and receive memory: tcp_state_test.cpp and tcp_hostile_peer_test.cpp; a starved mbuf
// pool: tcp_hostile_test.cpp.)
#include "stack/pipeline/ownership.hpp"
#include "tests/dpdk/pipeline_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

namespace {
Frame udp_to(const char* dst, uint16_t sport) {
  Frame udp(12, 0);
  wire::store16(udp.data(), 0, sport);
  wire::store16(udp.data(), 2, 9);
  wire::store16(udp.data(), 4, 12);
  return ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr(dst), 17, udp);
}
size_t ipv4_to(const std::vector<Frame>& out, const char* dst) {
  size_t n = 0;
  for (const Frame& f : out)
    n += wire::eth::type(f.data()) == wire::eth::kTypeIpv4 && wire::ipv4::dst(f.data() + 14) == addr(dst);
  return n;
}
}  // namespace

TEST(Exhaustion, ArpQueueOfOneNeighbor_FullDropsAreCounted_ResolvedNeighborsStillServed_QueueServesAfter) {
  Rig rig;
  rig.host_a_arps();
  rig.host_b_arps();
  const uint32_t per_neighbor = rig.shared().settings.queue_per_neighbor;
  // 10.0.2.77 never answers yet: its queue fills, the rest is counted.
  for (uint16_t i = 0; i < per_neighbor + 20; ++i) rig.inject(rig.a(), udp_to("10.0.2.77", uint16_t(2000 + i)));
  // Meanwhile host B, resolved, is served.
  for (uint16_t i = 0; i < 5; ++i) rig.inject(rig.a(), udp_to("10.0.2.2", uint16_t(3000 + i)));
  rig.poll_all();
  EXPECT_EQ(rig.counter(Counter::arp_queue_full), 20u);
  auto out = rig.take(rig.b());
  EXPECT_EQ(ipv4_to(out, "10.0.2.2"), 5u);
  EXPECT_EQ(ipv4_to(out, "10.0.2.77"), 0u);
  // It answers: the queued packets leave, and new ones go straight out.
  rig.inject(rig.b(), arp_frame(2, *net::MacAddr::parse("02:00:00:00:0b:77"), addr("10.0.2.77"), kMacB, addr("10.0.2.1")));
  rig.poll_all();
  EXPECT_EQ(ipv4_to(rig.take(rig.b()), "10.0.2.77"), per_neighbor);
  rig.inject(rig.a(), udp_to("10.0.2.77", 4000));
  rig.poll_all();
  EXPECT_EQ(ipv4_to(rig.take(rig.b()), "10.0.2.77"), 1u);
  EXPECT_EQ(rig.counter(Counter::arp_queue_full), 20u);
}

TEST(Exhaustion, HandoffRingFull_DropsAreCounted_WhatWasHandedIsForwarded_RingServesAfter) {
  RigOptions o;
  o.workers = 2;
  Rig rig(o);
  rig.host_a_arps();
  rig.host_b_arps();
  // Frames worker 1 owns, all arriving on worker 0's queue while worker 1 does not poll: the
  // handoff ring (64 slots in the rig) fills, the rest is counted.
  std::vector<Frame> owned_by_1;
  for (uint16_t sport = 1000; owned_by_1.size() < 100; ++sport) {
    Frame f = udp_to("10.0.2.2", sport);
    rte_mbuf* m = rig.mbuf(f);
    uint32_t hash;
    const uint32_t owner = pipeline::owner_of(rig.shared(), m, 0, f.data() + 14, &hash);
    rte_pktmbuf_free(m);
    if (owner == 1) owned_by_1.push_back(f);
  }
  for (const Frame& f : owned_by_1) rig.inject(rig.a(), f, 0);
  for (int i = 0; i < 4; ++i) rig.poll(0);
  const uint64_t full = rig.worker(0).counters().get(Counter::handoff_ring_full);
  const uint64_t handed = rig.worker(0).counters().get(Counter::handoff_out);
  EXPECT_GT(full, 0u);
  EXPECT_EQ(full + handed, 100u);
  EXPECT_EQ(handed, rte_ring_get_capacity(rig.shared().handoff_ring(0, 1)));
  // Worker 1 polls: what was handed over is forwarded; the ring takes new frames again.
  rig.poll(1);
  EXPECT_EQ(ipv4_to(rig.take(rig.b()), "10.0.2.2"), handed);
  for (int i = 0; i < 10; ++i) rig.inject(rig.a(), owned_by_1[size_t(i)], 0);
  rig.poll(0);
  rig.poll(1);
  EXPECT_EQ(ipv4_to(rig.take(rig.b()), "10.0.2.2"), 10u);
  EXPECT_EQ(rig.worker(0).counters().get(Counter::handoff_ring_full), full);
}
