// The redline appliance: turns a Config into running workers and takes them down again with
// every mbuf accounted for.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dpdk_app/config.hpp"
#include "stack/pipeline/shared.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::app {

class App {
 public:
  ~App();
  // EAL must be initialised. Returns false with `error` set on any failure.
  bool setup(const Config& config, std::string* error);
  // Launches the workers on the worker lcores; returns once they run.
  void launch();
  // Control loop on the main lcore until SIGINT/SIGTERM: SIGUSR1 prints counters.
  void control_loop();
  // Stops workers, returns every mbuf, closes ports, prints the counters (if `print`). Returns
  // mbufs still in use (should be 0).
  unsigned shutdown(bool print = true);
  // A counter summed over workers, as it stood when shutdown() stopped them.
  uint64_t final_total(net::Counter c) const { return final_totals_[size_t(c)]; }

  const pipeline::Shared& shared() const { return *shared_; }

 private:
  std::unique_ptr<pipeline::Shared> shared_ = std::make_unique<pipeline::Shared>();
  std::unique_ptr<ip::RouteTable> routes_;
  std::unique_ptr<arp::NeighborTable> neighbors_;
  std::vector<std::unique_ptr<pipeline::Worker>> workers_;
  std::vector<unsigned> lcores_;
  std::array<uint64_t, net::kCounterCount> final_totals_{};
  bool ports_open_ = false;
  bool launched_ = false;
};

// Installs handlers for SIGINT, SIGTERM and SIGUSR1.
void install_signal_handlers();

}  // namespace redline::app
