// Microbenchmarks of the DPDK-backed lookups on the fast path: LPM routes, the neighbor table,
// and an rte_hash flow table in lock-free mode from 1 K to 10 M entries (the shape the NAT and
// connection tables take). Runs under EAL without hugepages.
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

#include <memory>
#include <random>
#include <vector>

#include "drivers/scratch_eal.hpp"
#include "perf/tsc.hpp"
#include "stack/arp/neighbor_table.hpp"
#include "stack/ip/route_table.hpp"
#include "stack/net/five_tuple.hpp"

using namespace redline;

namespace {
std::unique_ptr<ip::RouteTable> make_routes(uint32_t count, std::vector<net::Ipv4Addr>* probes) {
  std::string error;
  static int serial = 0;
  auto t = ip::RouteTable::create("bench_routes_" + std::to_string(serial++), count + 16, 0, &error);
  std::mt19937 rng(3);
  for (uint32_t i = 0; i < count; ++i) {
    net::Ipv4Prefix p{net::Ipv4Addr{uint32_t(rng())}, uint8_t(16 + rng() % 9)};
    t->add(p, {ip::NextHop::Kind::kForward, uint16_t(i % 4), {}}, &error);
  }
  for (int i = 0; i < 4096; ++i) probes->push_back(net::Ipv4Addr{uint32_t(rng())});
  return t;
}
}  // namespace

static void BM_LpmLookup(benchmark::State& state) {
  std::vector<net::Ipv4Addr> probes;
  auto t = make_routes(uint32_t(state.range(0)), &probes);
  size_t i = 0;
  perf::CyclesPerOp cycles(state);
  for (auto _ : state) benchmark::DoNotOptimize(t->lookup(probes[i++ & 4095]));
}
BENCHMARK(BM_LpmLookup)->Arg(16)->Arg(10000);

static void BM_LpmLookup4(benchmark::State& state) {
  std::vector<net::Ipv4Addr> probes;
  auto t = make_routes(uint32_t(state.range(0)), &probes);
  size_t i = 0;
  uint32_t out[4];
  perf::CyclesPerOp cycles(state, 4);
  for (auto _ : state) {
    t->lookup4(&probes[i & 4092], out);
    i += 4;
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 4);
}
BENCHMARK(BM_LpmLookup4)->Arg(16)->Arg(10000);

static void BM_NeighborLookupBulk32(benchmark::State& state) {
  std::string error;
  static int serial = 0;
  auto t = arp::NeighborTable::create("bench_nt_" + std::to_string(serial++), 4096, 0, nullptr, &error);
  const uint32_t entries = uint32_t(state.range(0));
  for (uint32_t i = 0; i < entries; ++i) t->learn(net::Ipv4Addr{0x0a000000u + i}, {*net::MacAddr::parse("02:00:00:00:00:02"), 1});
  net::Ipv4Addr ips[32];
  for (uint32_t i = 0; i < 32; ++i) ips[i] = net::Ipv4Addr{0x0a000000u + (i * 7) % entries};
  arp::Neighbor out[32];
  perf::CyclesPerOp cycles(state, 32);
  for (auto _ : state) benchmark::DoNotOptimize(t->lookup_bulk(ips, 32, out));
  state.SetItemsProcessed(int64_t(state.iterations()) * 32);
}
BENCHMARK(BM_NeighborLookupBulk32)->Arg(4)->Arg(1024);

namespace {
// An rte_hash in the mode the flow tables use: lock-free readers, 16-byte five-tuple keys.
struct FlowTable {
  rte_hash* h = nullptr;
  std::vector<net::FiveTuple> keys;
  FlowTable(uint32_t entries, uint32_t fill) {
    static int serial = 0;
    std::string name = "bench_flows_" + std::to_string(serial++);
    rte_hash_parameters p{};
    p.name = name.c_str();
    p.entries = entries;
    p.key_len = sizeof(net::FiveTuple);
    p.hash_func = rte_hash_crc;
    p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
    h = rte_hash_create(&p);
    if (!h) throw std::runtime_error(std::string("rte_hash_create: ") + rte_strerror(rte_errno));
    std::mt19937 rng(5);
    keys.resize(fill);
    for (uint32_t i = 0; i < fill; ++i) {
      keys[i] = {uint32_t(rng()), uint32_t(rng()), uint16_t(rng()), uint16_t(rng()), 17, {}};
      rte_hash_add_key_data(h, &keys[i], reinterpret_cast<void*>(uintptr_t(i + 1)));
    }
  }
  ~FlowTable() { rte_hash_free(h); }
};
}  // namespace

static void BM_FlowTableLookupBulk32(benchmark::State& state) {
  const uint32_t n = uint32_t(state.range(0));
  FlowTable t(n + n / 4, n);
  // Random probes chosen up front, so the timed loop is only the lookups.
  std::mt19937 rng(9);
  std::vector<const void*> probes(1 << 16);
  for (auto& p : probes) p = &t.keys[rng() % n];
  void* data[32];
  uint64_t hits;
  size_t i = 0;
  perf::CyclesPerOp cycles(state, 32);
  for (auto _ : state) {
    benchmark::DoNotOptimize(rte_hash_lookup_bulk_data(t.h, &probes[i & 0xffe0], 32, &hits, data));
    i += 32;
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 32);
}
BENCHMARK(BM_FlowTableLookupBulk32)->Arg(1 << 10)->Arg(1 << 16)->Arg(1 << 20)->Arg(10'000'000)->Unit(benchmark::kNanosecond);

static void BM_FlowTableInsertDelete(benchmark::State& state) {
  const uint32_t n = uint32_t(state.range(0));
  FlowTable t(n + n / 4, n);
  std::mt19937 rng(11);
  net::FiveTuple k{0, 0, 0, 0, 6, {}};
  perf::CyclesPerOp cycles(state, 2);
  for (auto _ : state) {
    k.src_ip = uint32_t(rng());
    rte_hash_add_key_data(t.h, &k, reinterpret_cast<void*>(uintptr_t(1)));
    int32_t pos = rte_hash_del_key(t.h, &k);
    // Without RCU, lock-free mode keeps the slot until it is freed explicitly.
    if (pos >= 0) rte_hash_free_key_with_position(t.h, pos);
  }
}
BENCHMARK(BM_FlowTableInsertDelete)->Arg(1 << 10)->Arg(1 << 20)->Arg(10'000'000);

int main(int argc, char** argv) {
  drivers::ScratchEal eal("table_bench", 2048);  // 10 M flows need ~1 GiB
  if (!eal.ok()) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
