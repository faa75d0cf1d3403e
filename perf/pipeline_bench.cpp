// The whole pipeline on one lcore: bursts of prepared mbufs pushed through a real Worker's
// stage graph (classify -> route -> forward -> output, or classify -> route -> local -> icmp
// -> local-out -> output) into a ring port's TX ring, and taken back for the next round. No
// second core and no RX ring, so the figure is the pipeline's own cost, stable to a few cycles
// from run to run (the in-process ring row moves with cache traffic between cores).
//
// Each packet's first header bytes are restored from a template per round (the forward path
// decrements TTL, the echo path swaps addresses): BM_HarnessOnly measures that and the TX ring
// round trip alone, to subtract.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>

#include "drivers/scratch_eal.hpp"
#include "perf/tsc.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"
#include "tests/support/ring_testbed.hpp"

using namespace redline;
using testing::kHostA;
using testing::kHostB;
using testing::kMacA;
using testing::RingTestbed;

namespace {
constexpr uint32_t kBurst = 32;
constexpr size_t kTemplateLen = 14 + 20 + 8;  // Ethernet, IPv4, ICMP/UDP header

rte_mempool* pool() {
  static rte_mempool* p = rte_pktmbuf_pool_create("pb_pool", 4096, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  return p;
}

// 64-byte frames from host A: UDP to host B (forwarded) or an echo request to redline.
std::vector<uint8_t> frame(bool echo) {
  std::vector<uint8_t> f(60, 0);
  wire::eth::write(f.data(), kMacA, kHostA, wire::eth::kTypeIpv4);
  wire::ipv4::Repr r;
  r.total_len = 46;
  r.ttl = 64;
  r.protocol = echo ? wire::ipv4::kProtoIcmp : wire::ipv4::kProtoUdp;
  r.src = *net::Ipv4Addr::parse("10.0.1.2");
  r.dst = *net::Ipv4Addr::parse(echo ? "10.0.1.1" : "10.0.2.2");
  wire::ipv4::write(f.data() + 14, r);
  uint8_t* l4 = f.data() + 34;
  if (echo) {
    l4[0] = wire::icmp::kEchoRequest;
    wire::store16(l4, 2, wire::internet_checksum(l4, 26));
  } else {
    wire::store16(l4, 0, 1234);
    wire::store16(l4, 2, 9);
    wire::store16(l4, 4, 26);
  }
  return f;
}

struct Bench {
  std::unique_ptr<RingTestbed> tb;
  std::vector<uint8_t> tmpl;
  rte_mbuf* pkts[kBurst];
  rte_ring* out = nullptr;

  explicit Bench(bool echo) : tmpl(frame(echo)) {
    std::string error;
    tb = RingTestbed::create({}, pool(), nullptr, nullptr, &error);
    if (!tb) {
      std::fprintf(stderr, "pipeline_bench: %s\n", error.c_str());
      std::exit(1);
    }
    tb->neighbors().learn(*net::Ipv4Addr::parse("10.0.1.2"), {kHostA, 0});
    tb->neighbors().learn(*net::Ipv4Addr::parse("10.0.2.2"), {kHostB, 1});
    out = echo ? tb->a().tx[0] : tb->b().tx[0];
    for (auto& m : pkts) {
      m = rte_pktmbuf_alloc(pool());
      std::memcpy(rte_pktmbuf_append(m, uint16_t(tmpl.size())), tmpl.data(), tmpl.size());
    }
  }
  ~Bench() {
    rte_pktmbuf_free_bulk(pkts, kBurst);
    tb.reset();
  }
  void restore() {
    for (rte_mbuf* m : pkts) std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), tmpl.data(), kTemplateLen);
  }
  bool take_back() { return rte_ring_dequeue_bulk(out, reinterpret_cast<void**>(pkts), kBurst, nullptr) == kBurst; }
};

// Packet trace (packet_trace.hpp): off as in production (armed() looked at per burst), absent
// (no tracer: what "costs nothing when off" is measured against), or tracing every packet.
enum class Trace { kOff, kAbsent, kEvery };

void run(benchmark::State& state, bool echo, bool harness_only, Trace trace = Trace::kOff) {
  Bench b(echo);
  pipeline::Worker& w = b.tb->worker();
  if (trace == Trace::kAbsent) w.graph().set_tracer(nullptr);
  perf::CyclesPerOp cycles(state, kBurst);
  for (auto _ : state) {
    b.restore();
    if (trace == Trace::kEvery) {
      w.shared().trace.remaining.store(kBurst, std::memory_order_relaxed);
      w.tracer().clear();  // (the ring's bound keeps memory flat; clearing keeps its cost flat)
    }
    if (harness_only) {
      rte_ring_enqueue_bulk(b.out, reinterpret_cast<void**>(b.pkts), kBurst, nullptr);
    } else {
      w.process(b.pkts, kBurst, 0);
      w.flush();
    }
    if (!b.take_back()) {
      state.SkipWithError("packets did not come out: the pipeline dropped some");
      break;
    }
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
}
}  // namespace

static void BM_HarnessOnly(benchmark::State& state) { run(state, false, true); }
static void BM_L3Forward(benchmark::State& state) { run(state, false, false); }
static void BM_IcmpEcho(benchmark::State& state) { run(state, true, false); }
static void BM_L3ForwardNoTracer(benchmark::State& state) { run(state, false, false, Trace::kAbsent); }
static void BM_L3ForwardTraceEvery(benchmark::State& state) { run(state, false, false, Trace::kEvery); }
BENCHMARK(BM_HarnessOnly);
BENCHMARK(BM_L3Forward);
BENCHMARK(BM_L3ForwardNoTracer);
BENCHMARK(BM_L3ForwardTraceEvery);
BENCHMARK(BM_IcmpEcho);

int main(int argc, char** argv) {
  drivers::ScratchEal eal("pipeline_bench", 256);
  if (!eal.ok()) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
