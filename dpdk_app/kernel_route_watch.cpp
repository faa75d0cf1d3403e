#include "dpdk_app/kernel_route_watch.hpp"

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/route.h>
#include <sys/socket.h>

#include <cstring>

namespace redline::app {

namespace {

// The route as learned_routes.hpp reads it; false for what is not an IPv4 route of the main table.
bool read_route(rtnl_route* r, KernelRoute* out) {
  if (rtnl_route_get_family(r) != AF_INET || rtnl_route_get_table(r) != RT_TABLE_MAIN) return false;
  nl_addr* dst = rtnl_route_get_dst(r);
  if (!dst || nl_addr_get_len(dst) > 4) return false;
  uint8_t bytes[4] = {0, 0, 0, 0};
  std::memcpy(bytes, nl_addr_get_binary_addr(dst), nl_addr_get_len(dst));
  out->prefix = {net::Ipv4Addr::from_octets(bytes[0], bytes[1], bytes[2], bytes[3]), uint8_t(nl_addr_get_prefixlen(dst))};
  out->protocol = rtnl_route_get_protocol(r);
  out->hops.clear();
  if (rtnl_route_get_type(r) != RTN_UNICAST) return true;  // blackhole, unreachable...: no hop
  for (int i = 0; i < rtnl_route_get_nnexthops(r); ++i) {
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, i);
    KernelRoute::Hop hop;
    char name[IF_NAMESIZE] = {0};
    if (if_indextoname(unsigned(rtnl_route_nh_get_ifindex(nh)), name)) hop.interface = name;
    if (nl_addr* gw = rtnl_route_nh_get_gateway(nh); gw && nl_addr_get_family(gw) == AF_INET && nl_addr_get_len(gw) == 4) {
      const auto* g = static_cast<const uint8_t*>(nl_addr_get_binary_addr(gw));
      hop.gateway = net::Ipv4Addr::from_octets(g[0], g[1], g[2], g[3]);
    }
    out->hops.push_back(std::move(hop));
  }
  return true;
}

}  // namespace

void KernelRouteWatch::changed(nl_cache*, nl_object* object, int action, void* self) {
  KernelRoute k;
  if (!read_route(reinterpret_cast<rtnl_route*>(object), &k)) return;
  static_cast<KernelRouteWatch*>(self)->on_change_(k, action != NL_ACT_DEL);
}

std::unique_ptr<KernelRouteWatch> KernelRouteWatch::open(OnChange on_change, std::string* error) {
  std::unique_ptr<KernelRouteWatch> w(new KernelRouteWatch(std::move(on_change)));
  if (int rc = nl_cache_mngr_alloc(nullptr, NETLINK_ROUTE, NL_AUTO_PROVIDE, &w->manager_); rc < 0) {
    *error = std::string("netlink: cannot watch the kernel's routes: ") + nl_geterror(rc);
    return nullptr;
  }
  if (int rc = nl_cache_mngr_add(w->manager_, "route/route", &KernelRouteWatch::changed, w.get(), &w->routes_); rc < 0) {
    *error = std::string("netlink: cannot read the kernel's routes: ") + nl_geterror(rc);
    return nullptr;
  }
  // What is there already: the changes only tell what comes after.
  nl_cache_foreach(
      w->routes_, [](nl_object* o, void* self) { changed(nullptr, o, NL_ACT_NEW, self); }, w.get());
  return w;
}

KernelRouteWatch::~KernelRouteWatch() {
  if (manager_) nl_cache_mngr_free(manager_);  // frees the caches it manages
}

void KernelRouteWatch::poll() { nl_cache_mngr_poll(manager_, 0); }

}  // namespace redline::app
