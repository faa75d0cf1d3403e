// redline's configuration: what the TOML file says, validated, in typed form. Parsing is pure
// (no DPDK) so every bad-config path is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stack/endpoint/claims.hpp"
#include "stack/pipeline/impairment.hpp"
#include "stack/nat/nat_config.hpp"
#include "stack/services/services_config.hpp"
#include "stack/tcp/settings.hpp"
#include "stack/net/types.hpp"

namespace redline::app {

// The kernel exception path of a port ([ports.kernel]): a TAP carrying the port's address and
// MAC, to which redline passes what no stage of its own handles for that address.
struct KernelConfig {
  std::string interface;          // the TAP's name (at most 15 characters)
  std::vector<std::string> pass;  // ip::PassRules entries: "tcp:22", "udp:67-68", "proto:89", "all"
  friend bool operator==(const KernelConfig&, const KernelConfig&) = default;
};

struct PortConfig {
  std::string name;
  std::string device;  // vdev string ("net_tap0,iface=x"), PCI address, or existing port name
  net::Ipv4Prefix address;
  std::optional<net::MacAddr> mac;
  uint16_t mtu = 1500;
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  std::optional<KernelConfig> kernel;
  pipeline::ImpairConfig impair;  // [ports.impair]: off unless set (tests)
};

struct RouteConfig {
  net::Ipv4Prefix prefix;
  std::vector<net::Ipv4Addr> via;  // one gateway, or the paths of an ECMP route (in this order)
  bool runtime = false;            // added with `redlinectl route add`: kept by reload (app_commands.cpp)
  friend bool operator==(const RouteConfig&, const RouteConfig&) = default;
  std::string via_text() const;    // "10.77.2.2" or "10.77.2.2,10.77.2.3"
  // Routes exactly `p` (the same network and length; host bits of either ignored).
  bool same_prefix(net::Ipv4Prefix p) const { return prefix.network() == p.network() && prefix.length == p.length; }
};

struct ArpConfig {
  uint32_t reachable_s = 300;
  uint32_t retry_ms = 1000;
  uint32_t retries = 3;
  uint32_t queue_per_neighbor = 16;
  uint32_t max_resolving = 256;
  uint32_t table_size = 4096;
  uint32_t probes_per_ms = 64;  // refresh probes sent at most, per worker
};

// IPv4 reassembly of datagrams addressed to redline (per worker).
struct IpConfig {
  uint32_t reassembly_datagrams = 1024;
  uint32_t reassembly_timeout_ms = 1000;
  // Mirror the routes a routing daemon (BIRD) installs on the kernel exception path's side into
  // redline's table (dpdk_app/learned_routes.hpp). Fixed at start.
  bool learn_routes = false;
  // Compared field by field: a byte compare would read the padding after learn_routes.
  friend bool operator==(const IpConfig&, const IpConfig&) = default;
};

struct IcmpConfig {
  uint32_t error_rate = 100;   // per second per core
  uint32_t error_burst = 50;
};

struct PipelineConfig {
  uint32_t burst = 64;  // Settings::burst says why
  uint32_t idle_sleep_us = 0;
  uint32_t mbufs = 0;  // 0: sized from ports, queues and workers
};

// Operating redline while it runs (dpdk_app/control/).
struct ControlConfig {
  std::string socket = "/run/redline/redline.sock";  // unix stream socket for redlinectl; "" = off
  std::string metrics;                               // "ADDR:PORT" for Prometheus /metrics; "" = off
};

// redline's log (stack/pipeline/log.hpp): rte_log, so EAL's --log-level and --syslog apply too.
struct LogConfig {
  std::string level = "info";  // error, warning, info, debug
  std::string file;            // "" = stderr
};

struct Config {
  std::optional<uint32_t> workers;  // default: every worker lcore
  std::vector<PortConfig> ports;
  std::vector<RouteConfig> routes;
  ArpConfig arp;
  IpConfig ip;
  IcmpConfig icmp;
  PipelineConfig pipeline;
  ControlConfig control;
  LogConfig log;
  nat::NatConfig nat;  // enabled when the file has a [nat] section
  tcp::Settings tcp;   // [tcp]: TCP runs in every worker, with these settings
  services::ServicesConfig services;  // [services]: built-in applications on TCP and UDP
};

struct ConfigResult {
  std::optional<Config> config;
  std::string error;  // "FILE:LINE: key 'x': what is wrong"
};

// What a config is checked against beyond its own text: facts of the machine it runs on.
// Defaults are Linux's, so parsing text alone (tests, fuzzing) is deterministic.
struct HostFacts {
  // net.ipv4.ip_local_port_range: the kernel's own connections' ports, which a kernel
  // exception path on a NAT outside port must keep out of the NAT's ranges.
  uint16_t ephemeral_low = 32768, ephemeral_high = 60999;
  static HostFacts read();  // this machine's (the defaults where /proc says nothing)
};

ConfigResult parse_config(std::string_view toml_text, const std::string& source_name, const HostFacts& facts = {});

// Why the static route `prefix via via` cannot join config `c` ("" when it can): it may not replace
// a local, broadcast or connected route nor repeat a prefix nor have host bits set, and its
// gateway must be on a connected network. Used for [[routes]] and for routes added while redline runs.
struct RouteProblem {
  std::string what;
  bool in_gateway = false;  // the gateway is wrong (else the prefix)
};
RouteProblem static_route_problem(const Config& c, net::Ipv4Prefix prefix, const std::vector<net::Ipv4Addr>& via);
// "10.77.2.2" or "10.77.2.2,10.77.2.3" (an ECMP route's paths): 1 to RouteTable::kMaxPaths
// distinct addresses; nullopt and `error` otherwise.
std::optional<std::vector<net::Ipv4Addr>> parse_gateways(const std::string& text, std::string* error);
// The route `route add PREFIX VIA` asks for while redline runs from `current`: the same rules as
// [[routes]] in the file, against the routes in force less the one it replaces. nullopt and
// `error` if refused.
std::optional<RouteConfig> runtime_route(const Config& current, net::Ipv4Prefix prefix, const std::string& via,
                                         std::string* error);
// Reads and checks a config file against this machine (HostFacts::read): everything redline
// can check before EAL starts, as `redline --check` does.
ConfigResult load_config(const std::string& path);
// The local ports each part of a config takes (endpoint/claims.hpp): checked for conflicts at
// load, and the fixed claims of every worker's port registry (endpoint/local_ports.hpp).
std::vector<endpoint::Claim> local_claims(const Config& c);

}  // namespace redline::app
