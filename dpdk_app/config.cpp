#include "dpdk_app/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "dpdk_app/config_reader.hpp"
#include "dpdk_app/control/listen_address.hpp"
#include "stack/endpoint/claims.hpp"
#include "stack/ip/pass_rules.hpp"
#include "stack/ip/route_table.hpp"

namespace redline::app {

namespace {

// [ports.impair] (stack/pipeline/impairment.hpp): netem's knobs, for tests.
pipeline::ImpairConfig read_impair(const Reader& r, const toml::node* n, const std::string& at) {
  if (!n->is_table()) r.fail(n, at, "must be a table ([ports.impair] after its [[ports]])");
  const toml::table& t = *n->as_table();
  r.only_keys(t, at, {"loss_percent", "duplicate_percent", "reorder_percent", "corrupt_percent", "delay_ms", "jitter_ms",
                      "reorder_gap_ms", "seed", "direction", "queue"});
  auto percent = [&](const char* key) {
    const toml::node* v = t.get(key);
    if (!v) return 0.0;
    if (!v->is_integer() && !v->is_floating_point()) r.fail(v, at + "." + key, "must be a number of percent");
    const double x = v->is_integer() ? double(*v->value<int64_t>()) : *v->value<double>();
    if (!(x >= 0 && x <= 100)) r.fail(v, at + "." + key, "must be between 0 and 100");
    return x / 100;
  };
  pipeline::ImpairConfig c;
  c.loss = percent("loss_percent");
  c.duplicate = percent("duplicate_percent");
  c.reorder = percent("reorder_percent");
  c.corrupt = percent("corrupt_percent");
  uint32_t delay_ms = 0, jitter_ms = 0, gap_ms = 1;
  r.number(t, "delay_ms", at + ".delay_ms", delay_ms, 0, 10'000);
  r.number(t, "jitter_ms", at + ".jitter_ms", jitter_ms, 0, 10'000);
  r.number(t, "reorder_gap_ms", at + ".reorder_gap_ms", gap_ms, 1, 10'000);
  c.delay_us = delay_ms * 1000;
  c.jitter_us = jitter_ms * 1000;
  c.reorder_gap_us = gap_ms * 1000;
  r.number(t, "seed", at + ".seed", c.seed, 0, INT64_MAX);
  r.number(t, "queue", at + ".queue", c.queue, 1, 1 << 20);
  const std::string dir = r.string(t, "direction", at + ".direction", false);
  if (dir == "rx") c.tx = false;
  else if (dir == "tx") c.rx = false;
  else if (!dir.empty() && dir != "both") r.fail(t.get("direction"), at + ".direction", "'" + dir + "' is not \"rx\", \"tx\" or \"both\"");
  if (jitter_ms > delay_ms) r.fail(t.get("jitter_ms"), at + ".jitter_ms", "must not exceed delay_ms (a frame cannot leave before it came)");
  return c;
}

// The ports a kernel exception path's pass rule names ("tcp:22", "udp:67-68"); catch-alls
// ("tcp:*", "all", "proto:N") claim nothing: they take only what nothing else handles.
void kernel_claims(const std::string& rule, const std::string& key, std::vector<endpoint::Claim>* out) {
  const auto colon = rule.find(':');
  if (colon == std::string::npos) return;
  const std::string kind = rule.substr(0, colon);
  if (kind != "tcp" && kind != "udp") return;
  unsigned lo = 0, hi = 0;
  char extra = 0;
  const std::string ports = rule.substr(colon + 1);
  if (std::sscanf(ports.c_str(), "%u-%u%c", &lo, &hi, &extra) == 2 || std::sscanf(ports.c_str(), "%u%c", &lo, &extra) == 1) {
    if (hi == 0) hi = lo;
    out->push_back({uint8_t(kind == "tcp" ? 6 : 17), uint16_t(lo), uint16_t(hi), endpoint::Scope::kAllAddresses,
                    endpoint::Family::kKernel, key});
  }
}

}  // namespace

std::vector<endpoint::Claim> local_claims(const Config& c) {
  using endpoint::Claim;
  using endpoint::Family;
  using endpoint::Scope;
  std::vector<Claim> claims;
  if (c.nat.enabled) {
    claims.push_back({6, c.nat.tcp_ports.low, c.nat.tcp_ports.high, Scope::kNatOutside, Family::kNat, "nat.ports.tcp"});
    claims.push_back({17, c.nat.udp_ports.low, c.nat.udp_ports.high, Scope::kNatOutside, Family::kNat, "nat.ports.udp"});
    for (size_t i = 0; i < c.nat.dnat.size(); ++i) {
      const nat::DnatRule& d = c.nat.dnat[i];
      claims.push_back({d.protocol, d.external_port, d.external_port, Scope::kNatOutside, Family::kNat,
                        "nat.dnat[" + std::to_string(i) + "]"});
    }
  }
  const std::pair<const char*, uint16_t> services[] = {
      {"services.echo", c.services.echo}, {"services.discard", c.services.discard}, {"services.source", c.services.source}};
  for (const auto& [key, port] : services) {
    if (!port) continue;
    claims.push_back({6, port, port, Scope::kAllAddresses, Family::kService, key});
    if (std::string_view(key) != "services.source") claims.push_back({17, port, port, Scope::kAllAddresses, Family::kService, key});
  }
  // connect() takes its local port from the ephemeral range on whatever address routes to the
  // server, an outside address included.
  if (!c.services.connect.empty())
    claims.push_back({6, c.tcp.ephemeral_low, c.tcp.ephemeral_high, Scope::kAllAddresses, Family::kTcpConnect,
                      "tcp.ephemeral_ports"});
  for (size_t i = 0; i < c.ports.size(); ++i)
    if (c.ports[i].kernel)
      for (const std::string& rule : c.ports[i].kernel->pass)
        kernel_claims(rule, "ports[" + std::to_string(i) + "].kernel.pass", &claims);
  return claims;
}

namespace {

// endpoint/claims.hpp: the ports each part of the config takes, and no endpoint taken twice.
void check_local_endpoints(const Reader& r, const toml::table& root, const Config& c) {
  using endpoint::Claim;
  using endpoint::Family;
  const std::vector<Claim> claims = local_claims(c);
  const auto conflict = endpoint::first_conflict(claims);
  if (!conflict) return;
  const Claim& later = claims[conflict->first];
  const Claim& earlier = claims[conflict->second];
  r.fail(root.at_path(later.owner).node(), later.owner,
         endpoint::describe(later) + " overlaps " + earlier.owner + ", " + endpoint::describe(earlier) +
             ": one owner per local port (a packet there would reach only one of them). Move one of them" +
             (earlier.family == Family::kNat || later.family == Family::kNat
                  ? ", or narrow [nat.ports] (the NAT takes every port of its ranges on its outside addresses)"
                  : "") +
             ".");
}

PortConfig read_port(const Reader& r, const toml::table& t, size_t index) {
  std::string at = "ports[" + std::to_string(index) + "]";
  r.only_keys(t, at, {"name", "device", "address", "mac", "mtu", "rx_descriptors", "tx_descriptors", "kernel", "impair"});
  PortConfig p;
  p.name = r.string(t, "name", at + ".name", true);
  if (p.name.empty() || p.name.size() > 32) r.fail(t.get("name"), at + ".name", "must be 1 to 32 characters");
  p.device = r.string(t, "device", at + ".device", true);
  if (p.device.empty()) r.fail(t.get("device"), at + ".device", "must not be empty");
  std::string addr = r.string(t, "address", at + ".address", true);
  auto prefix = net::Ipv4Prefix::parse(addr);
  if (!prefix || prefix->length == 0 || prefix->length > 30 || prefix->addr == prefix->network() ||
      prefix->addr == prefix->directed_broadcast())
    r.fail(t.get("address"), at + ".address",
           "'" + addr + "' is not a host address with a prefix length 1-30, like 10.0.0.1/24");
  p.address = *prefix;
  std::string mac = r.string(t, "mac", at + ".mac", false);
  if (!mac.empty()) {
    p.mac = net::MacAddr::parse(mac);
    if (!p.mac || p.mac->is_multicast() || p.mac->is_zero())
      r.fail(t.get("mac"), at + ".mac", "'" + mac + "' is not a unicast MAC like 02:00:00:00:00:01");
  }
  r.number(t, "mtu", at + ".mtu", p.mtu, 576, 9000);
  r.number(t, "rx_descriptors", at + ".rx_descriptors", p.rx_descriptors, 64, 8192);
  r.number(t, "tx_descriptors", at + ".tx_descriptors", p.tx_descriptors, 64, 8192);
  if (const toml::node* k = t.get("kernel")) {
    const std::string kat = at + ".kernel";
    if (!k->is_table()) r.fail(k, kat, "must be a table ([ports.kernel] after its [[ports]])");
    const toml::table& kt = *k->as_table();
    r.only_keys(kt, kat, {"interface", "pass"});
    KernelConfig kc;
    kc.interface = r.string(kt, "interface", kat + ".interface", true);
    if (kc.interface.empty() || kc.interface.size() > 15 || kc.interface.find_first_of(" /:,=") != std::string::npos)
      r.fail(kt.get("interface"), kat + ".interface", "must be an interface name of 1 to 15 characters");
    const toml::node* pass = kt.get("pass");
    if (!pass) r.fail(&kt, kat + ".pass", "missing: what to pass, like [\"tcp:22\", \"tcp:179\"] or [\"all\"]");
    if (!pass->is_array()) r.fail(pass, kat + ".pass", "must be an array of strings");
    for (auto&& e : *pass->as_array()) {
      if (!e.is_string()) r.fail(&e, kat + ".pass", "must be an array of strings");
      kc.pass.push_back(*e.value<std::string>());
    }
    std::string why;
    if (!ip::PassRules::parse(kc.pass, &why)) r.fail(pass, kat + ".pass", why);
    if (kc.pass.empty()) r.fail(pass, kat + ".pass", "name at least one rule");
    p.kernel = kc;
  }
  if (const toml::node* n = t.get("impair")) p.impair = read_impair(r, n, at + ".impair");
  return p;
}

// A kernel exception path on a NAT outside port: replies to the kernel's own connections come
// to its ephemeral ports, which the NAT would take as its own if its ranges overlap them.
void check_kernel_ephemeral(const Reader& r, const toml::table& root, const Config& c, const HostFacts& facts) {
  if (!c.nat.enabled) return;
  for (const PortConfig& p : c.ports) {
    const bool outside = std::find(c.nat.outside.begin(), c.nat.outside.end(), p.name) != c.nat.outside.end();
    if (!outside || !p.kernel) continue;
    for (const auto& [name, range] : {std::pair{"tcp", c.nat.tcp_ports}, std::pair{"udp", c.nat.udp_ports}})
      if (range.low <= facts.ephemeral_high && range.high >= facts.ephemeral_low) {
        const std::string key = std::string("nat.ports.") + name;
        const toml::node* at = root.at_path(key).node();
        r.fail(at ? at : root.at_path("nat").node(), key,
               std::to_string(range.low) + "-" + std::to_string(range.high) + (at ? "" : " (the default)") +
                   " overlaps the kernel's ephemeral ports (net.ipv4.ip_local_port_range " +
                   std::to_string(facts.ephemeral_low) + "-" + std::to_string(facts.ephemeral_high) +
                   ") on outside port '" + p.name +
                   "', which has a kernel exception path: the replies to the kernel's own connections would be "
                   "taken for NAT. Narrow one of them.");
      }
  }
}

// The route table is one rte_lpm, and rte_lpm_add with a prefix already there replaces its next
// hop (ip::RouteTable::add: "adds or replaces"). The application adds each port's connected
// network, its own address /32 (local delivery) and its directed broadcast /32 first, then the
// static routes, so a static route with the same prefix would silently replace one of them:
// traffic for redline itself or for the whole connected network would be sent to a gateway.
// Alternatives: let static routes win (a footgun with no use), or skip them at start-up (the
// config says one thing and the router does another). Choice: refuse such a config, naming
// the key; and, for the same reason, refuse a second static route with the same prefix (no
// ECMP: only the last one would be kept). A prefix with host bits set is refused too, as `ip
// route` refuses it (static_route_problem).
Config read_config(const Reader& r, const toml::table& root, const HostFacts& facts) {
  r.only_keys(root, "", {"workers", "ports", "routes", "arp", "ip", "icmp", "pipeline", "control", "log", "nat", "tcp", "services"});
  Config c;
  if (root.get("workers")) {
    uint32_t w = 0;
    r.number(root, "workers", "workers", w, 1, 64);
    c.workers = w;
  }

  const toml::node* ports = root.get("ports");
  if (!ports) r.fail(&root, "ports", "missing: declare at least one [[ports]]");
  if (!ports->is_array_of_tables()) r.fail(ports, "ports", "must be an array of tables ([[ports]])");
  size_t i = 0;
  for (auto&& n : *ports->as_array()) c.ports.push_back(read_port(r, *n.as_table(), i++));
  if (c.ports.empty()) r.fail(ports, "ports", "declare at least one [[ports]]");
  if (c.ports.size() > 32) r.fail(ports, "ports", "at most 32 ports");
  for (size_t a = 0; a < c.ports.size(); ++a)
    for (size_t b = 0; b < a; ++b) {
      const toml::node* at = ports->as_array()->get(a);
      if (c.ports[a].name == c.ports[b].name)
        r.fail(at, "ports[" + std::to_string(a) + "].name", "'" + c.ports[a].name + "' is used twice");
      if (c.ports[a].kernel && c.ports[b].kernel && c.ports[a].kernel->interface == c.ports[b].kernel->interface)
        r.fail(at, "ports[" + std::to_string(a) + "].kernel.interface", "'" + c.ports[a].kernel->interface + "' is used twice");
      if (c.ports[a].device == c.ports[b].device)
        r.fail(at, "ports[" + std::to_string(a) + "].device", "'" + c.ports[a].device + "' is used twice");
      if (c.ports[a].address.contains(c.ports[b].address.addr) || c.ports[b].address.contains(c.ports[a].address.addr))
        r.fail(at, "ports[" + std::to_string(a) + "].address", "overlaps the network of port '" + c.ports[b].name + "'");
    }

  if (const toml::node* routes = root.get("routes")) {
    if (!routes->is_array_of_tables()) r.fail(routes, "routes", "must be an array of tables ([[routes]])");
    size_t j = 0;
    for (auto&& n : *routes->as_array()) {
      const toml::table& t = *n.as_table();
      std::string at = "routes[" + std::to_string(j++) + "]";
      r.only_keys(t, at, {"prefix", "via"});
      std::string prefix_text = r.string(t, "prefix", at + ".prefix", true);
      auto prefix = net::Ipv4Prefix::parse(prefix_text);
      if (!prefix || prefix_text.find('/') == std::string::npos)
        r.fail(t.get("prefix"), at + ".prefix", "'" + prefix_text + "' is not a prefix like 10.1.0.0/16");
      // One gateway ("10.77.2.2"), or an ECMP route's (["10.77.2.2", "10.77.2.3"]).
      std::string via_text;
      const toml::node* via_node = t.get("via");
      if (const toml::array* list = via_node ? via_node->as_array() : nullptr) {
        for (auto&& g : *list) {
          if (!g.is_string()) r.fail(&g, at + ".via", "must be a string or an array of strings");
          via_text += (via_text.empty() ? "" : ",") + *g.value<std::string>();
        }
        if (via_text.empty()) r.fail(via_node, at + ".via", "an empty array: give at least one gateway");
      } else {
        via_text = r.string(t, "via", at + ".via", true);
      }
      std::string error;
      auto via = parse_gateways(via_text, &error);
      if (!via) r.fail(via_node, at + ".via", error);
      if (RouteProblem p = static_route_problem(c, *prefix, *via); !p.what.empty())
        r.fail(t.get(p.in_gateway ? "via" : "prefix"), at + (p.in_gateway ? ".via" : ".prefix"), p.what);
      c.routes.push_back(RouteConfig{*prefix, *via});
    }
  }

  if (const toml::table* arp = r.table(root, "arp")) {
    r.only_keys(*arp, "arp",
                {"reachable_s", "retry_ms", "retries", "queue_per_neighbor", "max_resolving", "table_size", "probes_per_ms"});
    r.number(*arp, "reachable_s", "arp.reachable_s", c.arp.reachable_s, 1, 86400);
    r.number(*arp, "retry_ms", "arp.retry_ms", c.arp.retry_ms, 10, 60000);
    r.number(*arp, "retries", "arp.retries", c.arp.retries, 1, 100);
    // At least one packet is held while resolving (RFC 1122 §2.3.2.2): the first packet to an
    // unknown next hop is what starts its resolution.
    r.number(*arp, "queue_per_neighbor", "arp.queue_per_neighbor", c.arp.queue_per_neighbor, 1, 1024);
    r.number(*arp, "max_resolving", "arp.max_resolving", c.arp.max_resolving, 1, 65536);
    r.number(*arp, "table_size", "arp.table_size", c.arp.table_size, 16, 1 << 20);
    r.number(*arp, "probes_per_ms", "arp.probes_per_ms", c.arp.probes_per_ms, 1, 100000);
  }
  if (const toml::table* ip = r.table(root, "ip")) {
    r.only_keys(*ip, "ip", {"reassembly_datagrams", "reassembly_timeout_ms", "learn_routes"});
    c.ip.learn_routes = r.boolean(*ip, "learn_routes", "ip.learn_routes", false);
    // rte_ip_frag tables are built from buckets of 16 entries.
    r.number(*ip, "reassembly_datagrams", "ip.reassembly_datagrams", c.ip.reassembly_datagrams, 16, 1 << 20);
    r.number(*ip, "reassembly_timeout_ms", "ip.reassembly_timeout_ms", c.ip.reassembly_timeout_ms, 10, 60000);
  }
  if (const toml::table* icmp = r.table(root, "icmp")) {
    r.only_keys(*icmp, "icmp", {"error_rate", "error_burst"});
    r.number(*icmp, "error_rate", "icmp.error_rate", c.icmp.error_rate, 0, 1'000'000);
    r.number(*icmp, "error_burst", "icmp.error_burst", c.icmp.error_burst, 1, 1'000'000);
  }
  if (const toml::table* pl = r.table(root, "pipeline")) {
    r.only_keys(*pl, "pipeline", {"burst", "idle_sleep_us", "mbufs"});
    // Vector PMDs (i40e, ixgbe, mlx5 vectorised RX) return nothing for bursts under 4.
    r.number(*pl, "burst", "pipeline.burst", c.pipeline.burst, 4, 64);
    r.number(*pl, "idle_sleep_us", "pipeline.idle_sleep_us", c.pipeline.idle_sleep_us, 0, 100000);
    r.number(*pl, "mbufs", "pipeline.mbufs", c.pipeline.mbufs, 0, 16 << 20);
  }
  if (const toml::table* log = r.table(root, "log")) {
    r.only_keys(*log, "log", {"level", "file"});
    if (log->get("level")) {
      c.log.level = r.string(*log, "level", "log.level", false);
      if (c.log.level != "error" && c.log.level != "warning" && c.log.level != "info" && c.log.level != "debug")
        r.fail(log->get("level"), "log.level", "'" + c.log.level + "' is not one of error, warning, info, debug");
    }
    if (log->get("file")) c.log.file = r.string(*log, "file", "log.file", false);
  }
  if (const toml::table* ctl = r.table(root, "control")) {
    r.only_keys(*ctl, "control", {"socket", "metrics"});
    if (ctl->get("socket")) {
      c.control.socket = r.string(*ctl, "socket", "control.socket", false);
      if (c.control.socket.size() >= 108)  // sockaddr_un.sun_path
        r.fail(ctl->get("socket"), "control.socket", "a unix socket path must be shorter than 108 bytes");
    }
    if (ctl->get("metrics")) {
      c.control.metrics = r.string(*ctl, "metrics", "control.metrics", false);
      std::string why;
      if (!c.control.metrics.empty() && !valid_listen_address(c.control.metrics, &why))
        r.fail(ctl->get("metrics"), "control.metrics", "'" + c.control.metrics + "': " + why);
    }
  }
  if (const toml::table* nat = r.table(root, "nat")) c.nat = read_nat(r, *nat, c);
  if (const toml::table* tcp = r.table(root, "tcp")) c.tcp = read_tcp(r, *tcp);
  if (const toml::table* svc = r.table(root, "services")) c.services = read_services(r, *svc);
  check_local_endpoints(r, root, c);
  check_kernel_ephemeral(r, root, c, facts);
  return c;
}

}  // namespace

std::string RouteConfig::via_text() const {
  std::string out;
  for (const net::Ipv4Addr& g : via) out += (out.empty() ? "" : ",") + g.to_string();
  return out;
}

std::optional<std::vector<net::Ipv4Addr>> parse_gateways(const std::string& text, std::string* error) {
  std::vector<net::Ipv4Addr> out;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string one = text.substr(at, comma - at);
    auto g = net::Ipv4Addr::parse(one);
    if (!g) {
      *error = "'" + one + "' is not an IPv4 address (a gateway, or gateways separated by commas for ECMP)";
      return std::nullopt;
    }
    if (std::find(out.begin(), out.end(), *g) != out.end()) {
      *error = "gateway " + g->to_string() + " is given twice";
      return std::nullopt;
    }
    out.push_back(*g);
    at = comma + 1;
  }
  if (out.size() > ip::RouteTable::kMaxPaths) {
    *error = std::to_string(out.size()) + " gateways: an ECMP route has at most " + std::to_string(ip::RouteTable::kMaxPaths);
    return std::nullopt;
  }
  return out;
}

std::optional<RouteConfig> runtime_route(const Config& current, net::Ipv4Prefix prefix, const std::string& via_text,
                                         std::string* error) {
  auto via = parse_gateways(via_text, error);
  if (!via) return std::nullopt;
  Config check = current;
  std::erase_if(check.routes, [&](const RouteConfig& r) { return r.same_prefix(prefix); });
  if (auto problem = static_route_problem(check, prefix, *via); !problem.what.empty()) {
    *error = problem.what;
    return std::nullopt;
  }
  return RouteConfig{prefix, *via, true};
}

RouteProblem static_route_problem(const Config& c, net::Ipv4Prefix prefix, const std::vector<net::Ipv4Addr>& via) {
  const net::Ipv4Prefix normal{prefix.network(), prefix.length};
  // As `ip route` refuses it: host bits set are a typo more often than the network.
  if (prefix.addr != normal.addr)
    return {prefix.to_string() + " has host bits set: the network is " + normal.to_string()};
  for (const PortConfig& p : c.ports) {
    const net::Ipv4Prefix connected{p.address.network(), p.address.length};
    if (prefix.length == 32 && prefix.addr == p.address.addr)
      return {prefix.to_string() + " is the address of port '" + p.name +
              "': a static route cannot replace a local address"};
    if (prefix.length == 32 && prefix.addr == p.address.directed_broadcast())
      return {prefix.to_string() + " is the broadcast address of port '" + p.name +
              "': a static route cannot replace a broadcast address"};
    if (normal == connected)
      return {prefix.to_string() + " is the connected network of port '" + p.name +
              "': a static route cannot replace a connected route"};
  }
  for (size_t k = 0; k < c.routes.size(); ++k)
    if (c.routes[k].same_prefix(normal))
      return {prefix.to_string() + " is already routed by routes[" + std::to_string(k) + "]: one route per prefix"};
  for (const net::Ipv4Addr& g : via) {
    bool connected = false;
    for (const PortConfig& p : c.ports) connected |= p.address.contains(g) && p.address.addr != g;
    if (!connected) return {"gateway " + g.to_string() + " is not on the network of any port", true};
  }
  return {};
}

HostFacts HostFacts::read() {
  HostFacts f;
  unsigned lo = 0, hi = 0;
  if (FILE* in = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(in, "%u %u", &lo, &hi) == 2 && lo >= 1 && lo <= hi && hi <= 65535)
      f.ephemeral_low = uint16_t(lo), f.ephemeral_high = uint16_t(hi);
    std::fclose(in);
  }
  return f;
}

ConfigResult parse_config(std::string_view toml_text, const std::string& source_name, const HostFacts& facts) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream out;
    out << source_name << ":" << e.source().begin.line << ": " << e.description();
    return {std::nullopt, out.str()};
  }
  try {
    return {read_config(Reader(source_name), root, facts), {}};
  } catch (const ConfigError& e) {
    return {std::nullopt, e.message};
  }
}

ConfigResult load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {std::nullopt, path + ": cannot open: " + std::strerror(errno)};
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path, HostFacts::read());
}

}  // namespace redline::app
