// Two workers on ring ports without RSS, with QSBR, driven from the test's thread: the handoff
// rings and the ARP ring exercised without the integration harness.
#include "stack/pipeline/ownership.hpp"
#include "tests/dpdk/pipeline_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

namespace {
RigOptions two_workers() {
  RigOptions o;
  o.workers = 2;
  return o;
}

// A UDP frame from host A to `dst` whose flow the RETA gives to worker `owner`.
Frame udp_owned_by(Rig& rig, uint32_t owner, const char* dst) {
  for (uint16_t sport = 1000;; ++sport) {
    Frame udp(12, 0);
    wire::store16(udp.data(), 0, sport);
    wire::store16(udp.data(), 2, 9);
    wire::store16(udp.data(), 4, 12);
    Frame f = ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr(dst), 17, udp);
    rte_mbuf* m = rig.mbuf(f);
    uint32_t hash;
    uint32_t o = pipeline::owner_of(rig.shared(), m, 0, f.data() + 14, &hash);
    rte_pktmbuf_free(m);
    if (o == owner) return f;
  }
}
}  // namespace

TEST(TwoWorkers, PacketOnTheWrongCoreIsHandedToItsOwnerAndForwarded) {
  Rig rig(two_workers());
  rig.host_a_arps();
  rig.host_b_arps();
  for (int i = 0; i < 4; ++i) rig.inject(rig.a(), udp_owned_by(rig, 1, "10.0.2.2"), 0);  // worker 0's queue
  rig.poll(0);
  EXPECT_EQ(rig.worker(0).counters().get(Counter::handoff_out), 4u);
  EXPECT_TRUE(rig.take(rig.b()).empty());
  rig.poll(1);
  EXPECT_EQ(rig.worker(1).counters().get(Counter::handoff_in), 4u);
  EXPECT_EQ(rig.worker(1).counters().get(Counter::ipv4_forwarded), 4u);
  EXPECT_EQ(rig.take(rig.b()).size(), 4u);
}

TEST(TwoWorkers, ArpReplyIsProcessedWhileTheDataHandoffRingToWorker0IsFull) {
  Rig rig(two_workers());
  rig.host_a_arps();
  // Fill worker 1's data ring to worker 0: ARP must not queue behind it.
  rte_ring* data_ring = rig.shared().handoff_ring(1, 0);
  while (rte_ring_free_count(data_ring) > 0) ASSERT_EQ(rte_ring_sp_enqueue(data_ring, rte_pktmbuf_alloc(Rig::pool())), 0);
  // A packet worker 1 owns, to a next hop nobody has resolved: it waits at the ARP owner.
  rig.inject(rig.a(), udp_owned_by(rig, 1, "10.0.2.2"), 1);
  rig.poll(1);
  rig.poll(0);
  auto requests = rig.take(rig.b());
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(wire::eth::type(requests[0].data()), wire::eth::kTypeArp);
  // The reply comes in on worker 1's queue; it reaches worker 0 over the ARP ring.
  rig.inject(rig.b(), arp_frame(2, kHostB, addr("10.0.2.2"), kMacB, addr("10.0.2.1")), 1);
  rig.poll(1);
  rig.poll(0);
  auto out = rig.take(rig.b());
  ASSERT_EQ(out.size(), 1u) << "the held packet leaves once the reply is learned";
  EXPECT_EQ(wire::eth::dst(out[0].data()), kHostB);
  EXPECT_TRUE(rig.neighbors().lookup(addr("10.0.2.2")));
  EXPECT_EQ(rig.counter(Counter::arp_ring_full), 0u);
  // Worker 0 drains the data ring when it polls: give the fillers back first.
  void* m;
  while (rte_ring_sc_dequeue(data_ring, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
}

TEST(TwoWorkers, FragmentsOfADatagramMeetOnOneCoreAndAreReassembled) {
  Rig rig(two_workers());
  rig.host_a_arps();
  // An echo request of 2000 bytes in two fragments, both on worker 1's queue: their owner (by
  // addresses only) reassembles them, wherever they arrived.
  Frame icmp = echo_request(9, 2000 - 8);
  Frame first(icmp.begin(), icmp.begin() + 1480), second(icmp.begin() + 1480, icmp.end());
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 1, first, 64,
                                 wire::ipv4::kFlagMoreFragments), 1);
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 1, second, 64, 1480 / 8), 1);
  rig.poll_all(3);
  EXPECT_EQ(rig.counter(Counter::ipv4_reassembled), 1u);
  EXPECT_EQ(rig.counter(Counter::icmp_echo_replied), 1u);
  auto out = rig.take(rig.a());
  ASSERT_EQ(out.size(), 2u) << "a 2028-byte reply leaves in two fragments";
  size_t payload = 0;
  for (auto& f : out) {
    auto r = wire::ipv4::parse(f.data() + 14, f.size() - 14);
    ASSERT_TRUE(r.repr);
    payload += r.repr->total_len - r.repr->header_len;
  }
  EXPECT_EQ(payload, icmp.size());
}

// A port with fewer queue pairs than workers (a veth under AF_XDP has one): the worker without a
// queue there sends through worker 0's, and what arrives on the one queue reaches its owner.
TEST(TwoWorkers, PortWithOneQueueServesBothWorkers) {
  RigOptions o;
  o.workers = 2;
  o.queues_b = 1;
  Rig rig(o);
  rig.host_a_arps();
  rig.host_b_arps();
  // From A on both queues (one per worker), all out of b's single queue.
  for (uint32_t q = 0; q < 2; ++q)
    for (int i = 0; i < 4; ++i)
      rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, uint8_t(i)), 64), q);
  rig.poll_all(3);
  EXPECT_EQ(rig.take(rig.b()).size(), 8u);
  // From B on its one queue: answered, whichever worker owns each flow.
  for (int i = 0; i < 8; ++i)
    rig.inject(rig.b(), ipv4_frame(kMacB, kHostB, addr("10.0.2.2"), addr("10.0.1.2"), 17, Frame(12, uint8_t(i)), 64));
  rig.poll_all(3);
  EXPECT_EQ(rig.take(rig.a()).size(), 8u);
  EXPECT_EQ(rig.counter(Counter::tx_dropped), 0u);
}
