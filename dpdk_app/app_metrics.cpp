// What the metrics show beside the counters: the appliance's state (tables' fill, mbufs, reloads,
// the build), added to every snapshot the metrics server takes. Read from the metrics server's
// threads while the workers run: every value here is an atomic or a lock-free read.
#include <rte_mempool.h>
#include <rte_version.h>

#include <string>

#include "dpdk_app/app.hpp"
#include "stack/nat/nat_stage.hpp"

namespace redline::app {

namespace {
#define REDLINE_STR2(x) #x
#define REDLINE_STR(x) REDLINE_STR2(x)
#if defined(__clang__)
constexpr const char* kCompiler = "clang " __clang_version__;
#else
constexpr const char* kCompiler = "gcc " REDLINE_STR(__GNUC__) "." REDLINE_STR(__GNUC_MINOR__) "." REDLINE_STR(__GNUC_PATCHLEVEL__);
#endif
}  // namespace

void App::add_state(Snapshot& s) const {
  using Labels = std::vector<std::pair<std::string, std::string>>;
  auto add = [&s](const char* name, const char* type, const char* help, Labels labels, double value) {
    s.state.push_back({name, type, help, std::move(labels), value});
  };
  add("build_info", "gauge", "the running build (always 1): version, compiler, DPDK",
      {{"version", REDLINE_VERSION}, {"compiler", kCompiler}, {"dpdk", rte_version()}}, 1);
  add("start_time_seconds", "gauge", "when redline started, in seconds since the Unix epoch", {}, double(started_unix_s_));
  add("reloads_total", "counter", "reloads (redlinectl reload or SIGHUP) applied, and refused for a bad file",
      {{"result", "applied"}}, double(reloads_applied_.load(std::memory_order_relaxed)));
  add("reloads_total", "counter", "", {{"result", "refused"}}, double(reloads_refused_.load(std::memory_order_relaxed)));
  add("last_reload_applied", "gauge", "1 if the last reload was applied (or none was asked), 0 if it was refused", {},
      last_reload_applied_.load(std::memory_order_relaxed) ? 1 : 0);
  // By pool: the packet pool, and the AF_XDP ports' receive pool (app.cpp says why it is apart).
  const std::pair<const char*, const rte_mempool*> pools[] = {{"packets", shared_->pool}, {"af_xdp_rx", afxdp_pool_}};
  for (const auto& [name, pool] : pools)
    if (pool)
      add("mbufs_in_use", "gauge", "mbufs of a pool taken (held by ports, rings, workers and TCP)", {{"pool", name}},
          double(rte_mempool_in_use_count(pool)));
  for (const auto& [name, pool] : pools)
    if (pool) add("mbufs", "gauge", "mbufs in a pool", {{"pool", name}}, double(pool->size));
  add("routes_learned", "gauge", "routes mirrored from the kernel side ([ip] learn_routes)", {},
      double(learned_count_.load(std::memory_order_relaxed)));
  for (const auto& [what, n] : {std::pair{"added", &learned_added_}, {"removed", &learned_removed_}, {"ignored", &learned_ignored_}})
    add("learned_route_events_total", "counter",
        "kernel routes mirrored (added), taken out (removed), or not taken (ignored: learned_routes.hpp says why)",
        {{"event", what}}, double(n->load(std::memory_order_relaxed)));
  if (neighbors_) {
    add("neighbors", "gauge", "entries in the neighbor (ARP) table", {}, double(neighbors_->count()));
    add("neighbors_capacity", "gauge", "entries the neighbor table holds at most", {}, double(neighbors_->capacity()));
  }
  // One sample per worker whose stage exists, labelled by the worker.
  auto per_worker = [&add](const auto& stages, const char* name, const char* help, auto value_of) {
    for (size_t w = 0; w < stages.size(); ++w)
      if (const auto* st = stages[w]) add(name, "gauge", help, {{"worker", std::to_string(w)}}, double(value_of(*st)));
  };
  if (nat_) {
    per_worker(nat_->stages, "nat_sessions", "NAT sessions live on a worker", [](const nat::NatStage& st) { return st.sessions(); });
    per_worker(nat_->stages, "nat_sessions_capacity", "NAT sessions a worker holds at most (nat.max_sessions)",
               [](const nat::NatStage& st) { return st.capacity(); });
    per_worker(nat_->stages, "nat_mappings", "NAT mappings (inside endpoint to outside port) live on a worker",
               [](const nat::NatStage& st) { return st.mappings(); });
  }
  if (tcp_) {
    per_worker(tcp_->stages, "tcp_connections", "TCP connections of redline's own on a worker, in every state",
               [](const tcp::TcpStage& st) { return st.connections(); });
    per_worker(tcp_->stages, "tcp_time_wait", "TCP connections in TIME-WAIT on a worker",
               [](const tcp::TcpStage& st) { return st.time_wait(); });
  }
}

}  // namespace redline::app
