#include "stack/ip/route_table.hpp"

#include <rte_errno.h>
#include <rte_lpm.h>

#include <algorithm>

namespace redline::ip {

std::unique_ptr<RouteTable> RouteTable::create(const std::string& name, uint32_t max_routes,
                                               int socket, std::string* error) {
  rte_lpm_config config{};
  config.max_rules = max_routes;
  config.number_tbl8s = 256;
  rte_lpm* lpm = rte_lpm_create(name.c_str(), socket, &config);
  if (!lpm) {
    *error = "rte_lpm_create(" + name + ") failed: " + rte_strerror(rte_errno);
    return nullptr;
  }
  return std::unique_ptr<RouteTable>(new RouteTable(lpm));
}

RouteTable::~RouteTable() { rte_lpm_free(lpm_); }

bool RouteTable::add(net::Ipv4Prefix prefix, const NextHop& hop, std::string* error) {
  auto found = std::find(hops_.begin(), hops_.end(), hop);
  uint32_t index = uint32_t(found - hops_.begin());
  if (found == hops_.end()) hops_.push_back(hop);
  if (prefix.length == 0) {
    default_hop_ = index;
    return true;
  }
  int rc = rte_lpm_add(lpm_, prefix.network().value, prefix.length, index);
  if (rc != 0) {
    *error = "cannot add route " + prefix.to_string() + ": " + rte_strerror(-rc);
    return false;
  }
  return true;
}

uint32_t RouteTable::lookup(net::Ipv4Addr dst) const {
  uint32_t hop;
  return rte_lpm_lookup(lpm_, dst.value, &hop) == 0 ? hop : default_hop_;
}

void RouteTable::lookup4(const net::Ipv4Addr* dst, uint32_t* out) const {
  xmm_t ips = _mm_set_epi32(int(dst[3].value), int(dst[2].value), int(dst[1].value), int(dst[0].value));
  rte_lpm_lookupx4(lpm_, ips, out, default_hop_);
}

}  // namespace redline::ip
