// Microbenchmarks of the hot per-packet stages that need no DPDK (more in perf/ as issues land).
#include <benchmark/benchmark.h>

#include <random>

#include "stack/rss/toeplitz.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/ipv4.hpp"

using namespace redline;

static void BM_Ipv4Parse(benchmark::State& state) {
  uint8_t h[64] = {0x45, 0, 0, 64, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  wire::store16(h, 10, wire::internet_checksum(h, 20));
  for (auto _ : state) benchmark::DoNotOptimize(wire::ipv4::parse(h, sizeof h));
}
BENCHMARK(BM_Ipv4Parse);

static void BM_ChecksumFull(benchmark::State& state) {
  std::vector<uint8_t> data(size_t(state.range(0)), 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(wire::internet_checksum(data.data(), data.size()));
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ChecksumFull)->Arg(20)->Arg(1500);

static void BM_TtlDecrementIncremental(benchmark::State& state) {
  uint8_t h[20] = {0x45, 0, 0, 64, 0, 1, 0, 0, 255, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  for (auto _ : state) {
    h[8] = 255;
    wire::ipv4::decrement_ttl(h);
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_TtlDecrementIncremental);

static void BM_Toeplitz4Tuple(benchmark::State& state) {
  rss::Toeplitz t(rss::symmetric_key());
  uint8_t tuple[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0x12, 0x34, 0x00, 0x50};
  for (auto _ : state) {
    tuple[11]++;
    benchmark::DoNotOptimize(t.hash(tuple, 12));
  }
}
BENCHMARK(BM_Toeplitz4Tuple);

BENCHMARK_MAIN();
