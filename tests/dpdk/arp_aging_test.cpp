// ARP aging at scale: 4096 neighbors learned at once come due at once; their refresh probes
// leave paced, never overflowing a TX queue.
#include "stack/pipeline/arp_owner.hpp"
#include "tests/dpdk/pipeline_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

TEST(ArpAging, FourThousandNeighborsAreProbedWithoutTxDrops) {
  constexpr uint32_t kNeighbors = 4096;
  RigOptions o;
  o.address_a = "10.1.0.1/16";
  o.neighbors = 8192;
  o.tweak = [](pipeline::Shared& s) {
    s.settings.aging.reachable_ns = 1'000'000'000;  // 1 s
    s.settings.aging.probe_interval_ns = 1'000'000'000;
    s.settings.arp_probes_per_ms = 64;
  };
  Rig rig(o);
  uint64_t tsc = rte_rdtsc();
  const uint64_t ms = rte_get_tsc_hz() / 1000;
  // Each host asks for redline's address: learned (and answered) in bursts the TX ring holds.
  for (uint32_t i = 0; i < kNeighbors; i += 256) {
    for (uint32_t k = i; k < i + 256; ++k) {
      net::MacAddr m = kHostA;
      m.bytes[3] = 0x77;  // never our own MAC
      m.bytes[4] = uint8_t(k >> 8);
      m.bytes[5] = uint8_t(k);
      rig.inject(rig.a(), arp_frame(1, m, net::Ipv4Addr{addr("10.1.16.0").value + k}, net::MacAddr::broadcast(),
                                    addr("10.1.0.1")));
    }
    for (int p = 0; p < 16; ++p) rig.poll(0, tsc);
    rig.take(rig.a());
  }
  ASSERT_EQ(rig.neighbors().size(), kNeighbors);
  // All of them come due 1 s later. Poll as a busy worker would, every 100 µs, emptying the TX
  // ring between polls as a NIC would.
  tsc += 1100 * ms;
  size_t probes = 0, most_in_one_ms = 0, this_ms = 0;
  for (int p = 0; p < 2000 && probes < kNeighbors; ++p) {
    rig.poll(0, tsc + uint64_t(p) * ms / 10);
    const size_t sent = rig.take(rig.a()).size();
    probes += sent;
    this_ms += sent;
    if (p % 10 == 9) {
      most_in_one_ms = std::max(most_in_one_ms, this_ms);
      this_ms = 0;
    }
  }
  EXPECT_EQ(probes, kNeighbors);
  // Paced: arp_probes_per_ms per millisecond, plus the bucket's burst of as many once.
  EXPECT_LE(most_in_one_ms, 2u * 64u);
  EXPECT_EQ(rig.counter(Counter::tx_dropped), 0u);
  EXPECT_GT(rig.counter(Counter::arp_probes_deferred), 0u);
}
