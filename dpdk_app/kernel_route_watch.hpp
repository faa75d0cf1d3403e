// The kernel's IPv4 routes, watched over netlink with libnl-route-3 (rather than hand-parsed
// netlink messages): the routes a daemon on redline's kernel exception path installs, as they
// come and go (learned_routes.hpp decides which redline takes).
//
// Run by the control thread: poll() from its loop takes what the kernel announced since, without
// blocking, and calls back on that thread (the route table's only writer).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dpdk_app/learned_routes.hpp"

struct nl_cache_mngr;
struct nl_cache;
struct nl_object;

namespace redline::app {

class KernelRouteWatch {
 public:
  // `present`: the route was added or changed (true) or deleted (false).
  using OnChange = std::function<void(const KernelRoute& route, bool present)>;
  // Subscribes to the kernel's route changes in this network namespace and reports every IPv4
  // route there now (present). Null with `error` if netlink refuses.
  static std::unique_ptr<KernelRouteWatch> open(OnChange on_change, std::string* error);
  ~KernelRouteWatch();
  KernelRouteWatch(const KernelRouteWatch&) = delete;
  KernelRouteWatch& operator=(const KernelRouteWatch&) = delete;
  void poll();

 private:
  explicit KernelRouteWatch(OnChange on_change) : on_change_(std::move(on_change)) {}
  static void changed(nl_cache* cache, nl_object* object, int action, void* self);
  OnChange on_change_;
  nl_cache_mngr* manager_ = nullptr;
  nl_cache* routes_ = nullptr;
};

}  // namespace redline::app
