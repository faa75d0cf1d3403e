#include "stack/ip/route_table.hpp"

#include <rte_errno.h>
#include <rte_lpm.h>

#include <algorithm>

namespace redline::ip {

std::unique_ptr<RouteTable> RouteTable::create(const std::string& name, uint32_t max_routes, int socket,
                                               std::string* error, rte_rcu_qsbr* qsbr) {
  rte_lpm_config config{};
  config.max_rules = max_routes;
  // A tbl8 group per prefix longer than /24 that does not share its /24 with another.
  config.number_tbl8s = std::max<uint32_t>(256, max_routes);
  rte_lpm* lpm = rte_lpm_create(name.c_str(), socket, &config);
  if (!lpm) {
    *error = "rte_lpm_create(" + name + ") failed: " + rte_strerror(rte_errno);
    return nullptr;
  }
  if (qsbr) {
    rte_lpm_rcu_config rcu{};
    rcu.v = qsbr;
    rcu.mode = RTE_LPM_QSBR_MODE_DQ;
    if (rte_lpm_rcu_qsbr_add(lpm, &rcu) != 0) {
      *error = std::string("rte_lpm_rcu_qsbr_add failed: ") + rte_strerror(rte_errno);
      rte_lpm_free(lpm);
      return nullptr;
    }
  }
  return std::unique_ptr<RouteTable>(new RouteTable(lpm));
}

RouteTable::~RouteTable() { rte_lpm_free(lpm_); }

bool RouteTable::add(net::Ipv4Prefix prefix, std::vector<NextHop> hops, std::string* error) {
  const net::Ipv4Prefix normal{prefix.network(), prefix.length};
  if (hops.empty() || hops.size() > kMaxPaths) {
    *error = "cannot add route " + normal.to_string() + ": " + std::to_string(hops.size()) + " next hops (1 to " +
             std::to_string(kMaxPaths) + ")";
    return false;
  }
  for (NextHop& h : hops) h.paths = 1;
  hops.front().paths = uint8_t(hops.size());
  // The entries are never freed (lookups may hold an index at any time): the same next hop, or
  // the same group in the same order, is found again instead of added twice.
  const size_t n = hops.size();
  uint32_t index = uint32_t(hop_count_);
  for (size_t i = 0; i + n <= hop_count_; ++i)
    if (std::equal(hops.begin(), hops.end(), hops_.get() + i)) {
      index = uint32_t(i);
      break;
    }
  if (index == hop_count_) {
    if (hop_count_ + n > kMaxHops) {
      *error = "cannot add route " + normal.to_string() + ": " + std::to_string(kMaxHops) + " next hops in use";
      return false;
    }
    std::copy(hops.begin(), hops.end(), hops_.get() + hop_count_);
    hop_count_ += n;
    // The entries must be visible before any lookup can return their index.
    std::atomic_thread_fence(std::memory_order_release);
  }
  if (prefix.length == 0) {
    default_hop_.store(index, std::memory_order_relaxed);
  } else if (int rc = rte_lpm_add(lpm_, normal.addr.value, prefix.length, index); rc != 0) {
    *error = "cannot add route " + normal.to_string() + ": " + rte_strerror(-rc);
    return false;
  }
  hops.front().paths = 1;  // the writer's view keeps the hops themselves
  auto same = std::find_if(routes_.begin(), routes_.end(), [&](const Route& r) { return r.prefix == normal; });
  if (same != routes_.end()) same->hops = std::move(hops);
  else routes_.push_back({normal, std::move(hops)});
  return true;
}

bool RouteTable::remove(net::Ipv4Prefix prefix) {
  const net::Ipv4Prefix normal{prefix.network(), prefix.length};
  auto it = std::find_if(routes_.begin(), routes_.end(), [&](const Route& r) { return r.prefix == normal; });
  if (it == routes_.end()) return false;
  if (prefix.length == 0) default_hop_.store(kNoRoute, std::memory_order_relaxed);
  else if (rte_lpm_delete(lpm_, normal.addr.value, prefix.length) != 0) return false;
  routes_.erase(it);
  return true;
}

std::optional<NextHop> RouteTable::route_of(net::Ipv4Prefix prefix) const {
  const net::Ipv4Prefix normal{prefix.network(), prefix.length};
  for (const Route& r : routes_)
    if (r.prefix == normal) return r.hop();
  return std::nullopt;
}

const Route* RouteTable::route_for(net::Ipv4Addr dst) const {
  const Route* best = nullptr;
  for (const Route& r : routes_)
    if (r.prefix.contains(dst) && (!best || r.prefix.length > best->prefix.length)) best = &r;
  return best;
}

uint32_t RouteTable::lookup(net::Ipv4Addr dst) const {
  uint32_t hop;
  return rte_lpm_lookup(lpm_, dst.value, &hop) == 0 ? hop : default_hop_.load(std::memory_order_relaxed);
}

void RouteTable::lookup4(const net::Ipv4Addr* dst, uint32_t* out) const {
  xmm_t ips = _mm_set_epi32(int(dst[3].value), int(dst[2].value), int(dst[1].value), int(dst[0].value));
  rte_lpm_lookupx4(lpm_, ips, out, default_hop_.load(std::memory_order_relaxed));
}

}  // namespace redline::ip
