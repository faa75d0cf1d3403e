// EAL for test and benchmark programs: one lcore, no hugepages, no PCI, no shared config, no
// telemetry socket, and a runtime directory of its own that is removed again at the end, so
// nothing is left behind in /var/run/dpdk and parallel runs do not collide.
#pragma once

#include <rte_eal.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace redline::drivers {

class ScratchEal {
 public:
  ScratchEal(const char* program, int memory_mb)
      : prefix_(std::string(program) + "-" + std::to_string(getpid())) {
    std::string mem = std::to_string(memory_mb);
    std::string file_prefix = "--file-prefix=" + prefix_;
    std::vector<const char*> args = {program, "-l", "0", "--no-huge", "-m", mem.c_str(), "--no-pci",
                                     "--no-shconf", "--no-telemetry", file_prefix.c_str(), "--log-level=*:error"};
    ok_ = rte_eal_init(int(args.size()), const_cast<char**>(args.data())) >= 0;
  }
  ~ScratchEal() {
    if (ok_) rte_eal_cleanup();
    std::error_code ignored;
    std::filesystem::remove_all(std::filesystem::path(rte_eal_get_runtime_dir()).parent_path() / prefix_, ignored);
  }
  bool ok() const { return ok_; }

 private:
  std::string prefix_;
  bool ok_ = false;
};

}  // namespace redline::drivers
