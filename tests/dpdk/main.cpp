// GoogleTest main for tests that need DPDK: a scratch EAL (see drivers/scratch_eal.hpp).
#include <gtest/gtest.h>

#include <cstdio>

#include "drivers/scratch_eal.hpp"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  redline::drivers::ScratchEal eal("dpdk_tests", 256);
  if (!eal.ok()) {
    std::fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  return RUN_ALL_TESTS();
}
