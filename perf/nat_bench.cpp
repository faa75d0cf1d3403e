// The NAT in a real Worker on one lcore, as pipeline_bench measures the router: bursts of 32
// prepared frames from the inside pushed through classify -> nat -> route -> output into a ring
// port's TX ring and taken back. Flows round-robin over N live sessions (1 K: tables in cache;
// 1 M: every lookup and session a cache miss), so BM_NatEstablished/N minus pipeline_bench's
// BM_L3Forward is what translating a packet of an established session costs. BM_NatNewSession/N
// makes a session (and a mapping with its port) for every packet, on top of N live ones.
//
// Flows: 250 inside addresses x 4000 source ports, to one outside host; SNAT to a pool of 32
// outside addresses, so a million mappings find ports (each inside address is paired with one
// pool address, RFC 4787 REQ-2).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>

#include "drivers/scratch_eal.hpp"
#include "perf/tsc.hpp"
#include "stack/nat/nat_stage.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/udp.hpp"
#include "tests/support/ring_testbed.hpp"

using namespace redline;
using testing::kHostA;
using testing::kHostB;
using testing::kMacA;
using testing::RingTestbed;

namespace {
constexpr uint32_t kBurst = 32;
constexpr uint32_t kPortsPerAddress = 4000;
constexpr size_t kHeaderLen = 14 + 20 + 8;

rte_mempool* pool() {
  static rte_mempool* p = rte_pktmbuf_pool_create("nb_pool", 4096, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  return p;
}

// UDP from inside host n (address 10.0.1.2 + n / 4000 % 250, port base + n % 4000) to 10.0.2.2:9.
void write_frame(uint8_t* f, uint32_t n, uint16_t port_base = 1024) {
  std::memset(f, 0, 60);
  wire::eth::write(f, kMacA, kHostA, wire::eth::kTypeIpv4);
  wire::ipv4::Repr r;
  r.total_len = 46;
  r.ttl = 64;
  r.protocol = wire::ipv4::kProtoUdp;
  r.src = net::Ipv4Addr{net::Ipv4Addr::parse("10.0.1.2")->value + n / kPortsPerAddress % 250};
  r.dst = *net::Ipv4Addr::parse("10.0.2.2");
  wire::ipv4::write(f + 14, r);
  wire::store16(f + 34, wire::udp::kSrcPort, uint16_t(port_base + n % kPortsPerAddress));
  wire::store16(f + 34, wire::udp::kDstPort, 9);
  wire::store16(f + 34, wire::udp::kLength, 26);
}

nat::NatConfig config(uint32_t max_sessions) {
  nat::NatConfig c;
  c.enabled = true;
  c.inside = {"a"};
  c.outside = {"b"};
  c.max_sessions = max_sessions;
  // Every port: a million mappings over 32 addresses, paired by a hash of the inside address,
  // overflow the default range (1024-60999) on the fullest address.
  c.udp_ports = {1024, 65535};
  nat::SnatRule rule{*net::Ipv4Prefix::parse("10.0.1.0/24"), false, {}, 0};
  for (uint32_t i = 0; i < 32; ++i) rule.pool.push_back(net::Ipv4Addr{net::Ipv4Addr::parse("10.0.2.100")->value + i});
  c.snat.push_back(rule);
  return c;
}

struct Bench {
  std::unique_ptr<nat::NatShared> nat;
  std::unique_ptr<RingTestbed> tb;
  rte_mbuf* pkts[kBurst];
  rte_ring* out = nullptr;

  explicit Bench(uint32_t live, uint32_t extra) {
    testing::TestbedOptions o;
    o.tweak = [&](pipeline::Shared& s) {
      std::vector<nat::PortAddress> ports{{"a", s.ports[0].address}, {"b", s.ports[1].address}};
      std::string error;
      auto rules = nat::NatRules::resolve(config(live + extra + 64), ports, &error);
      if (!rules) {
        std::fprintf(stderr, "nat_bench: %s\n", error.c_str());
        std::exit(1);
      }
      nat = std::make_unique<nat::NatShared>(std::move(*rules));
      nat::add_nat_feature(s, *nat);
    };
    std::string error;
    tb = RingTestbed::create(o, pool(), nullptr, nullptr, &error);
    if (!tb) {
      std::fprintf(stderr, "nat_bench: %s\n", error.c_str());
      std::exit(1);
    }
    tb->neighbors().learn(*net::Ipv4Addr::parse("10.0.2.2"), {kHostB, 1});
    out = tb->b().tx[0];
    for (auto& m : pkts) {
      m = rte_pktmbuf_alloc(pool());
      rte_pktmbuf_append(m, 60);
    }
    // The live sessions, made the way traffic makes them.
    for (uint32_t n = 0; n < live; n += kBurst) {
      for (uint32_t i = 0; i < kBurst; ++i) write_frame(rte_pktmbuf_mtod(pkts[i], uint8_t*), n + i);
      if (!round()) {
        std::fprintf(stderr, "nat_bench: could not make session %u\n", n);
        std::exit(1);
      }
    }
  }
  ~Bench() {
    rte_pktmbuf_free_bulk(pkts, kBurst);
    tb.reset();
  }
  bool round() {
    pipeline::Worker& w = tb->worker();
    w.process(pkts, kBurst, 0);
    w.flush();
    return rte_ring_dequeue_bulk(out, reinterpret_cast<void**>(pkts), kBurst, nullptr) == kBurst;
  }
};

// Headers of every flow, prepared once: a round restores 32 of them (the NAT rewrote the last).
std::vector<uint8_t> headers_of(uint32_t flows) {
  std::vector<uint8_t> h(size_t(flows) * kHeaderLen);
  uint8_t f[60];
  for (uint32_t n = 0; n < flows; ++n) {
    write_frame(f, n);
    std::memcpy(&h[size_t(n) * kHeaderLen], f, kHeaderLen);
  }
  return h;
}

void established(benchmark::State& state) {
  const uint32_t live = uint32_t(state.range(0));
  Bench b(live, 0);
  const std::vector<uint8_t> headers = headers_of(live);
  perf::CyclesPerOp cycles(state, kBurst);
  uint32_t next = 0;
  for (auto _ : state) {
    for (rte_mbuf* m : b.pkts) {
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), &headers[size_t(next) * kHeaderLen], kHeaderLen);
      if (++next == live) next = 0;
    }
    if (!b.round()) {
      state.SkipWithError("packets did not come out");
      break;
    }
  }
  state.counters["sessions"] = double(b.nat->stages[0]->sessions());
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
}

// Every packet a new flow on top of `live` sessions: a mapping, its port and a session each.
void new_sessions(benchmark::State& state) {
  const uint32_t live = uint32_t(state.range(0));
  constexpr uint32_t kRounds = 2000;  // 64 K new sessions: the table grows from `live` by that
  Bench b(live, kRounds * kBurst);
  perf::CyclesPerOp cycles(state, kBurst);
  // Source ports above the live sessions' (1024-5023): every one a new inside endpoint.
  uint32_t next = 0;
  for (auto _ : state) {
    for (rte_mbuf* m : b.pkts) write_frame(rte_pktmbuf_mtod(m, uint8_t*), next++, 10000);
    if (!b.round()) {
      state.SkipWithError("a new session was refused");
      break;
    }
  }
  state.counters["sessions"] = double(b.nat->stages[0]->sessions());
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
}

// The harness alone (header restore and the TX ring round trip), to subtract.
void harness(benchmark::State& state) {
  Bench b(0, 0);
  const std::vector<uint8_t> headers = headers_of(1024);
  perf::CyclesPerOp cycles(state, kBurst);
  uint32_t next = 0;
  for (auto _ : state) {
    for (rte_mbuf* m : b.pkts) {
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), &headers[size_t(next) * kHeaderLen], kHeaderLen);
      next = (next + 1) & 1023;
    }
    rte_ring_enqueue_bulk(b.out, reinterpret_cast<void**>(b.pkts), kBurst, nullptr);
    rte_ring_dequeue_bulk(b.out, reinterpret_cast<void**>(b.pkts), kBurst, nullptr);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
}
}  // namespace

BENCHMARK(harness)->Name("BM_NatHarnessOnly");
BENCHMARK(established)->Name("BM_NatEstablished")->Arg(1024)->Arg(1'000'000)->Unit(benchmark::kNanosecond);
BENCHMARK(new_sessions)->Name("BM_NatNewSession")->Arg(1024)->Arg(1'000'000)->Iterations(2000);

int main(int argc, char** argv) {
  drivers::ScratchEal eal("nat_bench", 1024);
  if (!eal.ok()) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
