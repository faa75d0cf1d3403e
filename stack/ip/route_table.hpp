// IPv4 routing table: longest-prefix match (RFC 1812 §5.2.4.3) on rte_lpm.
//
// The LPM holds a 24-bit next-hop index per prefix; the index names an entry in a small array
// saying what to do: deliver locally, treat as a broadcast of ours, or forward out of a port to
// a gateway (or to the destination itself on a connected network). Built once at start from the
// connected networks and static routes; read by every worker without locks because it does
// not change while they run.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stack/net/types.hpp"

struct rte_lpm;

namespace redline::ip {

struct NextHop {
  enum class Kind : uint8_t { kForward, kLocal, kBroadcast };
  Kind kind = Kind::kForward;
  uint16_t port = 0;     // egress port (kForward) or the port the address belongs to
  net::Ipv4Addr gateway;  // 0.0.0.0: the destination is on the connected network
  friend bool operator==(const NextHop&, const NextHop&) = default;
};

class RouteTable {
 public:
  static constexpr uint32_t kNoRoute = UINT32_MAX;

  static std::unique_ptr<RouteTable> create(const std::string& name, uint32_t max_routes, int socket,
                                            std::string* error);
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Adds or replaces the route for `prefix` (address bits beyond the length are ignored).
  bool add(net::Ipv4Prefix prefix, const NextHop& hop, std::string* error);

  // Index of the next hop for `dst`, or kNoRoute.
  uint32_t lookup(net::Ipv4Addr dst) const;
  // Four at a time (rte_lpm_lookupx4); `out` gets kNoRoute for misses.
  void lookup4(const net::Ipv4Addr* dst, uint32_t* out) const;
  const NextHop& hop(uint32_t index) const { return hops_[index]; }
  size_t hop_count() const { return hops_.size(); }

 private:
  explicit RouteTable(rte_lpm* lpm) : lpm_(lpm) {}
  rte_lpm* lpm_;
  // rte_lpm takes depths 1-32; the default route (/0) is the answer for an LPM miss.
  uint32_t default_hop_ = kNoRoute;
  std::vector<NextHop> hops_;
};

}  // namespace redline::ip
