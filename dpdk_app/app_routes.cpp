// Routes learned on the kernel exception path (learned_routes.hpp), applied by the control thread.
#include "dpdk_app/app.hpp"
#include "stack/pipeline/log.hpp"

namespace redline::app {

bool App::start_learning(std::string* error) {
  route_watch_ = KernelRouteWatch::open([this](const KernelRoute& k, bool present) { on_kernel_route(k, present); }, error);
  if (!route_watch_) return false;
  log::write(log::Level::kInfo, "routes: learning the kernel side's routes (%llu now)",
             (unsigned long long)learned_count_.load());
  return true;
}

void App::on_kernel_route(const KernelRoute& k, bool present) {
  const net::Ipv4Prefix prefix{k.prefix.network(), k.prefix.length};
  const auto key = std::make_pair(prefix.addr.value, prefix.length);
  const auto had = learned_.find(key);
  // A static route ([[routes]], route add) for the prefix owns it: a learned one never replaces
  // it, nor does its withdrawal remove it.
  const bool static_route = std::any_of(config_.routes.begin(), config_.routes.end(), [&](const RouteConfig& r) {
    return r.same_prefix(prefix);
  });
  auto forget = [&](const char* why) {
    if (had == learned_.end()) return;
    if (!static_route) routes_->remove(prefix);
    learned_.erase(had);
    learned_count_.store(learned_.size(), std::memory_order_relaxed);
    learned_removed_.fetch_add(1, std::memory_order_relaxed);
    log::write(log::Level::kInfo, "routes: learned %s removed (%s)", prefix.to_string().c_str(), why);
  };
  if (!present) return forget("the kernel withdrew it");
  LearnDecision d = learn_route(config_, k);
  if (d.hops.empty()) {
    learned_ignored_.fetch_add(1, std::memory_order_relaxed);
    log::write(log::Level::kDebug, "routes: kernel route %s (proto %u) not taken: %s", prefix.to_string().c_str(),
               unsigned(k.protocol), d.ignored.c_str());
    return forget("the kernel's route changed to one redline does not take");
  }
  if (had != learned_.end() && had->second == d.hops) return;
  std::string error;
  if (!routes_->add(prefix, d.hops, &error)) {
    learned_ignored_.fetch_add(1, std::memory_order_relaxed);
    log::write(log::Level::kWarning, "routes: learned %s not installed: %s", prefix.to_string().c_str(), error.c_str());
    return;
  }
  learned_[key] = std::move(d.hops);
  learned_count_.store(learned_.size(), std::memory_order_relaxed);
  learned_added_.fetch_add(1, std::memory_order_relaxed);
  log::write(log::Level::kInfo, "routes: learned %s from the kernel (proto %u)", prefix.to_string().c_str(), unsigned(k.protocol));
}

}  // namespace redline::app
