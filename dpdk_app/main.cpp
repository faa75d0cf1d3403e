// redline [EAL args] -- --config FILE, redline --check FILE, redline --version
#include <rte_eal.h>
#include <rte_pdump.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dpdk_app/app.hpp"
#include "dpdk_app/config.hpp"
#include "stack/pipeline/log.hpp"

namespace {

constexpr const char* kEalHelp =
    "EAL options (before '--') choose cores and memory, e.g.\n"
    "  redline -l 0,1 --no-huge -m 1024 --no-pci --no-shconf -- --config FILE   (vdevs, tests: lcore 0 control, 1 a worker)\n"
    "  README \"Deploying on a real NIC\" gives the production recipe (hugepages, PCI addresses).\n"
    "--check and --version need no EAL: redline --check FILE\n"
    "Signals: SIGUSR1 prints counters; SIGHUP reloads the config; SIGINT/SIGTERM stop cleanly.\n"
    "Operate it while it runs with redlinectl (the control socket, [control] in the config).";

}  // namespace

int main(int argc, char** argv) {
  // EAL's options come before "--", ours after; with no "--" every argument is ours (redline
  // --check FILE, --version, --help need no EAL). Ours are read first, so a bad config fails
  // before EAL starts.
  int split = 1;
  while (split < argc && std::strcmp(argv[split], "--") != 0) ++split;
  const bool has_eal = split < argc;
  std::vector<std::string> ours(argv + (has_eal ? split + 1 : 1), argv + argc);
  CLI::App cli{"redline: a kernel-bypass IPv4 router, NAT and TCP/UDP stack on DPDK.\n"
               "usage: redline [EAL options] -- --config FILE\n"
               "       redline --check FILE",
               "redline"};
  cli.footer(kEalHelp);
  cli.set_version_flag("--version", std::string("redline ") + REDLINE_VERSION);
  std::string config_path, check_path;
  auto* run = cli.add_option("--config", config_path, "run with this config file");
  auto* check = cli.add_option("--check", check_path, "check a config file as start-up would, then exit (0 valid, 2 not)");
  run->excludes(check);
  try {
    std::reverse(ours.begin(), ours.end());  // CLI11 takes a vector in reverse order
    cli.parse(ours);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "redline: %s\n%s", e.what(),
                 has_eal ? "" : "  (EAL options go before '--': redline [EAL options] -- --config FILE)\n");
    return 2;
  }
  const bool check_only = !check_path.empty();
  if (check_only) config_path = check_path;
  if (config_path.empty()) {
    std::fprintf(stderr, "redline: give --config FILE (or --check FILE); redline --help says more\n");
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
  if (rte_eal_init(has_eal ? split : 1, argv) < 0) {
    std::fprintf(stderr,
                 "redline: EAL init failed: %s\n"
                 "  hint: without hugepages use --no-huge -m 1024 --no-shconf; with them, reserve some\n"
                 "  first (README: Deploying on a real NIC).\n",
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
      app.notify_ready();
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
