// Microbenchmarks of the per-packet stages that need no DPDK: parse, checksums, Toeplitz.
// Each reports ns/op (Google Benchmark's time) and TSC cycles/op.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "perf/tsc.hpp"
#include "stack/rss/toeplitz.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/ipv4.hpp"

using namespace redline;

static void BM_Ipv4ParseAndValidate(benchmark::State& state) {
  uint8_t h[64] = {0x45, 0, 0, 64, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  wire::store16(h, 10, wire::internet_checksum(h, 20));
  perf::CyclesPerOp cycles(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(h);
    benchmark::DoNotOptimize(wire::ipv4::parse(h, sizeof h));
  }
}
BENCHMARK(BM_Ipv4ParseAndValidate);

static void BM_ChecksumFull(benchmark::State& state) {
  std::vector<uint8_t> data(size_t(state.range(0)), 0x5a);
  perf::CyclesPerOp cycles(state);
  for (auto _ : state) {
    benchmark::ClobberMemory();
    benchmark::DoNotOptimize(wire::internet_checksum(data.data(), data.size()));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ChecksumFull)->Arg(20)->Arg(1500);

static void BM_ChecksumIncrementalTtl(benchmark::State& state) {
  uint8_t h[20] = {0x45, 0, 0, 64, 0, 1, 0, 0, 255, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  perf::CyclesPerOp cycles(state);
  for (auto _ : state) {
    h[8] = 255;
    wire::ipv4::decrement_ttl(h);
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_ChecksumIncrementalTtl);

static void BM_Toeplitz4Tuple(benchmark::State& state) {
  rss::Toeplitz t(rss::symmetric_key());
  uint8_t tuple[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0x12, 0x34, 0x00, 0x50};
  perf::CyclesPerOp cycles(state);
  for (auto _ : state) {
    tuple[11]++;
    benchmark::ClobberMemory();  // the compiler must not hoist the 11 unchanged lookups
    benchmark::DoNotOptimize(t.hash(tuple, 12));
  }
}
BENCHMARK(BM_Toeplitz4Tuple);

static void BM_ToeplitzBitSerialReference(benchmark::State& state) {
  const rss::Key key = rss::symmetric_key();
  uint8_t tuple[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0x12, 0x34, 0x00, 0x50};
  perf::CyclesPerOp cycles(state);
  for (auto _ : state) {
    tuple[11]++;
    benchmark::DoNotOptimize(rss::Toeplitz::hash_reference(key, tuple, 12));
  }
}
BENCHMARK(BM_ToeplitzBitSerialReference);

BENCHMARK_MAIN();
