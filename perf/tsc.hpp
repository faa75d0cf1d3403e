// TSC cycles per operation for Google Benchmark: these VMs have no hardware perf counters, and
// the TSC is constant, so cycles = TSC ticks (2.1 GHz here).
#pragma once

#include <benchmark/benchmark.h>
#include <x86intrin.h>

namespace redline::perf {

class CyclesPerOp {
 public:
  explicit CyclesPerOp(benchmark::State& state, double ops_per_iteration = 1)
      : state_(state), ops_(ops_per_iteration), start_(__rdtsc()) {}
  ~CyclesPerOp() {
    double ops = double(state_.iterations()) * ops_;
    if (ops > 0) state_.counters["cycles/op"] = double(__rdtsc() - start_) / ops;
  }

 private:
  benchmark::State& state_;
  double ops_;
  unsigned long long start_;
};

}  // namespace redline::perf
