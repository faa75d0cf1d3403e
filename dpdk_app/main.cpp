// redline [EAL args] -- --config FILE
#include <rte_eal.h>
#include <rte_pdump.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "dpdk_app/app.hpp"
#include "dpdk_app/config.hpp"
#include "stack/pipeline/log.hpp"

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: redline [EAL options] -- --config FILE\n"
               "       redline -- --check FILE     validate a config and exit\n"
               "\n"
               "EAL options choose cores and memory, e.g.\n"
               "  -l 0,1 --no-huge -m 512 --in-memory --no-pci   (lcore 0 control, lcore 1 worker)\n"
               "Signals: SIGUSR1 prints counters; SIGHUP reloads the config; SIGINT/SIGTERM stop cleanly.\n"
               "Operate it while it runs with redlinectl (the control socket, [control] in the config).\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Our options come after "--"; read them first so a bad config fails before EAL starts.
  int split = 1;
  while (split < argc && std::strcmp(argv[split], "--") != 0) ++split;
  std::string config_path;
  bool check_only = false;
  for (int i = split + 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--config" || arg == "--check") && i + 1 < argc) {
      check_only = arg == "--check";
      config_path = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "redline: unknown option '%s'\n", arg.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    usage(stderr);
    return 2;
  }
  auto loaded = redline::app::load_config(config_path);
  if (!loaded.config) {
    std::fprintf(stderr, "redline: config error: %s\n", loaded.error.c_str());
    return 2;
  }
  if (check_only) {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }

  redline::app::install_signal_handlers();
  if (rte_eal_init(split, argv) < 0) {
    std::fprintf(stderr,
                 "redline: EAL init failed: %s\n"
                 "  hint: without hugepages use --no-huge -m 512; with them, reserve some first\n"
                 "  (echo 512 > /proc/sys/vm/nr_hugepages) and add --in-memory.\n",
                 rte_strerror(rte_errno));
    return 1;
  }
  // Lets dpdk-dumpcap (a secondary process) capture on redline's ports. Needs multi-process, so
  // it is off under --no-shconf or --in-memory.
  const auto& log_config = loaded.config->log;
  redline::log::set_level(log_config.level.c_str());
  if (!log_config.file.empty() && !redline::log::to_file(log_config.file.c_str()))
    redline::log::write(redline::log::Level::kError, "cannot open log file %s: %s (logging to stderr)",
                        log_config.file.c_str(), std::strerror(errno));
  const bool capture = rte_pdump_init() == 0;
  if (!capture)
    redline::log::write(redline::log::Level::kInfo,
                        "packet capture (dpdk-dumpcap) unavailable: multi-process is off (--no-shconf/--in-memory)");
  int rc = 0;
  {
    redline::app::App app;
    std::string error;
    if (app.setup(*loaded.config, &error, config_path)) {
      app.launch();
      if (!app.open_control(&error))
        redline::log::write(redline::log::Level::kWarning, "%s (running without the control socket)", error.c_str());
      app.control_loop();
    } else {
      std::fprintf(stderr, "redline: %s\n", error.c_str());
      rc = 1;
    }
    unsigned in_use = app.shutdown();
    std::printf("mbufs in use at exit: %u\n", in_use);
    std::fflush(stdout);
    if (in_use != 0 && rc == 0) rc = 3;
  }
  if (capture) rte_pdump_uninit();
  rte_eal_cleanup();
  return rc;
}
