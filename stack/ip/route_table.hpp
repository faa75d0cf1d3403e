// IPv4 routing table: longest-prefix match (RFC 1812 §5.2.4.3) on rte_lpm.
//
// The LPM holds a 24-bit next-hop index per prefix; the index names an entry in a small array
// saying what to do: deliver locally, treat as a broadcast of ours, or forward out of a port to
// a gateway (or to the destination itself on a connected network).
//
// Changed while workers read it: one writer (the application at start, then the control thread)
// adds and removes routes; workers look up without locks. The next-hop array never moves (it is
// sized once) and an entry is written before any LPM entry names it (release fence); rte_lpm
// updates its tables with atomic stores, and the tbl8 groups a delete frees are reclaimed only
// after every worker has passed a quiescent state (rte_lpm_rcu_qsbr_add), so a reader never
// follows a group that was reused under it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stack/net/types.hpp"

struct rte_lpm;
struct rte_rcu_qsbr;

namespace redline::ip {

struct NextHop {
  enum class Kind : uint8_t { kForward, kLocal, kBroadcast };
  Kind kind = Kind::kForward;
  uint16_t port = 0;     // egress port (kForward) or the port the address belongs to
  net::Ipv4Addr gateway;  // 0.0.0.0: the destination is on the connected network
  friend bool operator==(const NextHop&, const NextHop&) = default;
};

struct Route {
  net::Ipv4Prefix prefix;  // network address and length
  NextHop hop;
};

class RouteTable {
 public:
  static constexpr uint32_t kNoRoute = UINT32_MAX;
  static constexpr uint32_t kMaxHops = 4096;

  // `qsbr` may be null when routes never change while workers run (tests, tools).
  static std::unique_ptr<RouteTable> create(const std::string& name, uint32_t max_routes, int socket,
                                            std::string* error, rte_rcu_qsbr* qsbr = nullptr);
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // --- the writer ---
  // Adds or replaces the route for `prefix` (address bits beyond the length are ignored).
  bool add(net::Ipv4Prefix prefix, const NextHop& hop, std::string* error);
  // Removes the route for exactly `prefix`; false if there is none.
  bool remove(net::Ipv4Prefix prefix);
  // The routes, in the order they were added (the writer's view).
  const std::vector<Route>& routes() const { return routes_; }
  std::optional<NextHop> route_of(net::Ipv4Prefix prefix) const;

  // --- any core, lock-free ---
  // Index of the next hop for `dst`, or kNoRoute.
  uint32_t lookup(net::Ipv4Addr dst) const;
  // Four at a time (rte_lpm_lookupx4); `out` gets kNoRoute for misses.
  void lookup4(const net::Ipv4Addr* dst, uint32_t* out) const;
  const NextHop& hop(uint32_t index) const { return hops_[index]; }
  size_t hop_count() const { return hop_count_; }

 private:
  explicit RouteTable(rte_lpm* lpm) : lpm_(lpm), hops_(new NextHop[kMaxHops]) {}
  rte_lpm* lpm_;
  // rte_lpm takes depths 1-32; the default route (/0) is the answer for an LPM miss. Workers
  // read it per lookup: relaxed is enough, it is published after its hop (release fence).
  std::atomic<uint32_t> default_hop_{kNoRoute};
  std::unique_ptr<NextHop[]> hops_;
  size_t hop_count_ = 0;
  std::vector<Route> routes_;
};

}  // namespace redline::ip
