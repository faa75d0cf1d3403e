// GoogleTest main for tests that need DPDK: EAL without hugepages, PCI or shared files.
#include <gtest/gtest.h>
#include <rte_eal.h>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const char* eal_args[] = {"dpdk_tests", "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                            "--log-level=*:error"};
  if (rte_eal_init(int(std::size(eal_args)), const_cast<char**>(eal_args)) < 0) {
    std::fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  int rc = RUN_ALL_TESTS();
  rte_eal_cleanup();
  return rc;
}
