// Routes learned on the kernel exception path, as VPP's linux-cp mirrors them: a routing daemon
// beside redline (BIRD: BGP, OSPF) installs what it learns in the kernel's main table, on the
// TAP interfaces of redline's kernel paths; redline mirrors those routes into its own table and
// takes them out again when the kernel does.
//
// Which kernel routes are taken (learn_route below, pure and unit-tested):
//  - IPv4 unicast routes of the main table whose every next hop leaves by one of redline's
//    kernel-path interfaces (the TAP of port P stands for port P), with a gateway on that port's
//    network or none (the destination is on the link);
//  - not the kernel's own (proto kernel: the connected networks of the TAPs' addresses, which
//    redline has already) nor redline's own (proto kRedlineProtocol: anything redline puts in the
//    kernel side is never mirrored back, so nothing loops);
//  - not over what redline routes itself: a connected network, a port's own or broadcast address,
//    or a prefix of a static route ([[routes]] and `route add` win over learned routes).
// A route with several next hops (ECMP from BGP multipath or OSPF) is an ECMP route here too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dpdk_app/config.hpp"
#include "stack/ip/route_table.hpp"

namespace redline::app {

// rtm_protocol of the routes redline itself installs in the kernel side (none yet; VIPs and
// announced prefixes will): a value of the range /etc/iproute2/rt_protos leaves to local use.
constexpr uint8_t kRedlineProtocol = 250;

struct KernelRoute {
  net::Ipv4Prefix prefix;
  uint8_t protocol = 0;  // rtm_protocol: 2 kernel, 3 boot, 4 static, 12 bird, ...
  struct Hop {
    std::string interface;  // the output interface's name
    net::Ipv4Addr gateway;  // 0.0.0.0: none
  };
  std::vector<Hop> hops;
};

struct LearnDecision {
  std::vector<ip::NextHop> hops;  // what to install for k.prefix (empty: nothing)
  std::string ignored;            // why not, when hops is empty
};

// What redline makes of kernel route `k`, given its config (ports, kernel paths, static routes).
LearnDecision learn_route(const Config& config, const KernelRoute& k);

}  // namespace redline::app
