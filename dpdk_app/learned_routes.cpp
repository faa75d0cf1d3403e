#include "dpdk_app/learned_routes.hpp"

#include <algorithm>

namespace redline::app {

namespace {
constexpr uint8_t kProtoKernel = 2;  // RTPROT_KERNEL: the kernel's connected routes
}

LearnDecision learn_route(const Config& c, const KernelRoute& k) {
  const net::Ipv4Prefix normal{k.prefix.network(), k.prefix.length};
  if (k.protocol == kProtoKernel) return {{}, "the kernel's own (proto kernel)"};
  if (k.protocol == kRedlineProtocol) return {{}, "redline's own (proto 250): never mirrored back"};
  if (k.hops.empty()) return {{}, "no next hop (blackhole, unreachable or prohibit)"};
  if (k.hops.size() > ip::RouteTable::kMaxPaths) return {{}, std::to_string(k.hops.size()) + " next hops: at most 16"};
  for (const RouteConfig& r : c.routes)
    if (r.same_prefix(normal)) return {{}, "a static route has this prefix"};
  // The checks of a static route's prefix (connected networks, ports' own and broadcast
  // addresses), without its gateway rule: hops are checked below, against their interface.
  Config bare;
  bare.ports = c.ports;
  if (RouteProblem p = static_route_problem(bare, normal, {}); !p.what.empty()) return {{}, p.what};
  LearnDecision out;
  for (const KernelRoute::Hop& h : k.hops) {
    auto port = std::find_if(c.ports.begin(), c.ports.end(),
                             [&](const PortConfig& p) { return p.kernel && p.kernel->interface == h.interface; });
    if (port == c.ports.end()) return {{}, "next hop by " + h.interface + ", not a kernel path of redline's"};
    if (!h.gateway.is_unspecified() && (!port->address.contains(h.gateway) || port->address.addr == h.gateway))
      return {{}, "gateway " + h.gateway.to_string() + " is not on port " + port->name + "'s network"};
    out.hops.push_back({ip::NextHop::Kind::kForward, uint16_t(port - c.ports.begin()), h.gateway});
  }
  return out;
}

}  // namespace redline::app
