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
  // ECMP: in the first entry of a group, how many entries (this one included) follow in the
  // array, one per path; 1 for a single next hop.
  uint8_t paths = 1;
  friend bool operator==(const NextHop&, const NextHop&) = default;
};

struct Route {
  net::Ipv4Prefix prefix;     // network address and length
  std::vector<NextHop> hops;  // one, or the paths of an ECMP route
  const NextHop& hop() const { return hops.front(); }
};

class RouteTable {
 public:
  static constexpr uint32_t kNoRoute = UINT32_MAX;
  static constexpr uint32_t kMaxHops = 4096;
  static constexpr uint32_t kMaxPaths = 16;  // next hops of one ECMP route

  // `qsbr` may be null when routes never change while workers run (tests, tools).
  static std::unique_ptr<RouteTable> create(const std::string& name, uint32_t max_routes, int socket,
                                            std::string* error, rte_rcu_qsbr* qsbr = nullptr);
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // --- the writer ---
  // Adds or replaces the route for `prefix` (address bits beyond the length are ignored).
  bool add(net::Ipv4Prefix prefix, const NextHop& hop, std::string* error) { return add(prefix, std::vector{hop}, error); }
  // The same with 1 to kMaxPaths next hops: an ECMP route, each flow on one of them (path()).
  bool add(net::Ipv4Prefix prefix, std::vector<NextHop> hops, std::string* error);
  // Removes the route for exactly `prefix`; false if there is none.
  bool remove(net::Ipv4Prefix prefix);
  // The routes, in the order they were added (the writer's view).
  const std::vector<Route>& routes() const { return routes_; }
  std::optional<NextHop> route_of(net::Ipv4Prefix prefix) const;
  // The route `dst` takes (longest prefix), if any: the writer's view, for `route get`.
  const Route* route_for(net::Ipv4Addr dst) const;

  // --- any core, lock-free ---
  // Index of the next hop for `dst`, or kNoRoute.
  uint32_t lookup(net::Ipv4Addr dst) const;
  // Four at a time (rte_lpm_lookupx4); `out` gets kNoRoute for misses.
  void lookup4(const net::Ipv4Addr* dst, uint32_t* out) const;
  const NextHop& hop(uint32_t index) const { return hops_[index]; }
  // The next hop a flow whose hash is `flow_hash` takes at `index`: the entry itself, or for an
  // ECMP route the path the hash picks, so every packet of a flow leaves by the same one.
  const NextHop& path(uint32_t index, uint32_t flow_hash) const {
    const NextHop& h = hops_[index];
    return h.paths > 1 ? hops_[index + flow_hash % h.paths] : h;
  }
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
