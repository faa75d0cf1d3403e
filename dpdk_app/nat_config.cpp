// The [nat] section (examples/nat.toml documents every key): read, and checked against the
// ports, with the file, line and key of anything wrong.
#include "dpdk_app/config.hpp"
#include "dpdk_app/config_reader.hpp"

namespace redline::app {

namespace {


std::vector<std::string> port_names(const Reader& r, const toml::table& t, const char* key, const Config& c) {
  const std::string path = std::string("nat.") + key;
  const toml::node* n = t.get(key);
  if (!n) r.fail(&t, path, "missing: name the ports on this side, like [\"lan\"]");
  if (!n->is_array()) r.fail(n, path, "must be an array of port names, like [\"lan\"]");
  std::vector<std::string> out;
  for (auto&& e : *n->as_array()) {
    if (!e.is_string()) r.fail(&e, path, "must be an array of port names");
    const std::string name = *e.value<std::string>();
    bool known = false;
    for (const PortConfig& p : c.ports) known |= p.name == name;
    if (!known) r.fail(&e, path, "no [[ports]] named '" + name + "'");
    out.push_back(name);
  }
  if (out.empty()) r.fail(n, path, "name at least one port");
  return out;
}

nat::PortRange port_range(const Reader& r, const toml::table& t, const char* key, nat::PortRange fallback) {
  const std::string path = std::string("nat.ports.") + key;
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  const std::string text = r.string(t, key, path, true);
  const auto dash = text.find('-');
  unsigned long lo = 0, hi = 0;
  try {
    if (dash == std::string::npos) throw std::invalid_argument("no dash");
    size_t used = 0;
    lo = std::stoul(text.substr(0, dash), &used);
    if (used != dash) throw std::invalid_argument("junk");
    hi = std::stoul(text.substr(dash + 1), &used);
    if (used != text.size() - dash - 1) throw std::invalid_argument("junk");
  } catch (const std::exception&) {
    r.fail(n, path, "'" + text + "' is not a range LOW-HIGH like 1024-65535");
  }
  if (lo < 1 || hi > 65535 || lo > hi) r.fail(n, path, "'" + text + "' must satisfy 1 <= LOW <= HIGH <= 65535");
  return {uint16_t(lo), uint16_t(hi)};
}

struct Endpoint {
  net::Ipv4Addr addr;
  uint16_t port = 0;
};
Endpoint endpoint(const Reader& r, const toml::table& t, const char* key, const std::string& path) {
  const std::string text = r.string(t, key, path, true);
  const auto colon = text.rfind(':');
  std::optional<net::Ipv4Addr> a;
  unsigned long port = 0;
  if (colon != std::string::npos) {
    a = net::Ipv4Addr::parse(text.substr(0, colon));
    try {
      size_t used = 0;
      port = std::stoul(text.substr(colon + 1), &used);
      if (used != text.size() - colon - 1) port = 0;
    } catch (const std::exception&) {
      port = 0;
    }
  }
  if (!a || port < 1 || port > 65535) r.fail(t.get(key), path, "'" + text + "' is not ADDRESS:PORT like 10.0.0.2:80");
  return {*a, uint16_t(port)};
}

const PortConfig* port_named(const Config& c, const std::string& name) {
  for (const PortConfig& p : c.ports)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace

nat::NatConfig read_nat(const Reader& r, const toml::table& t, const Config& c) {
  r.only_keys(t, "nat",
              {"inside", "outside", "filtering", "max_sessions", "hairpinning", "port_preservation", "ports", "timeouts",
               "limits", "log", "snat", "dnat"});
  nat::NatConfig n;
  n.enabled = true;
  n.inside = port_names(r, t, "inside", c);
  n.outside = port_names(r, t, "outside", c);
  for (const std::string& o : n.outside)
    for (const std::string& i : n.inside)
      if (o == i) r.fail(t.get("outside"), "nat.outside", "port '" + o + "' is also inside");
  if (t.get("filtering")) {
    const std::string f = r.string(t, "filtering", "nat.filtering", true);
    if (f == "address-dependent") n.filtering = nat::Filtering::kAddressDependent;
    else if (f == "endpoint-independent") n.filtering = nat::Filtering::kEndpointIndependent;
    else r.fail(t.get("filtering"), "nat.filtering", "'" + f + "' is neither address-dependent nor endpoint-independent");
  }
  r.number(t, "max_sessions", "nat.max_sessions", n.max_sessions, 1, 1 << 24);
  n.hairpinning = r.boolean(t, "hairpinning", "nat.hairpinning", true);
  n.port_preservation = r.boolean(t, "port_preservation", "nat.port_preservation", true);
  if (const toml::table* ports = r.table(t, "ports")) {
    r.only_keys(*ports, "nat.ports", {"tcp", "udp", "icmp"});
    n.tcp_ports = port_range(r, *ports, "tcp", n.tcp_ports);
    n.udp_ports = port_range(r, *ports, "udp", n.udp_ports);
    n.icmp_ids = port_range(r, *ports, "icmp", n.icmp_ids);
  }
  if (const toml::table* to = r.table(t, "timeouts")) {
    r.only_keys(*to, "nat.timeouts", {"udp", "tcp_established", "tcp_transitory", "icmp", "rfc_minimums"});
    n.timeouts.rfc_minimums = r.boolean(*to, "rfc_minimums", "nat.timeouts.rfc_minimums", true);
    const bool rfc = n.timeouts.rfc_minimums;
    const char* why = rfc ? " (the RFC minimum; rfc_minimums = false allows less, for tests)" : "";
    auto seconds = [&](const char* key, uint32_t& out, uint32_t rfc_min) {
      const uint32_t min = rfc ? rfc_min : 1;
      const toml::node* v = to->get(key);
      if (!v) return;
      // At most a day: idle times are counted in 32 bits of ~62 us timer ticks (74 h).
      if (!v->is_integer() || *v->value<int64_t>() < min || *v->value<int64_t>() > 86400)
        r.fail(v, std::string("nat.timeouts.") + key,
               "must be whole seconds from " + std::to_string(min) + why + " to 86400");
      out = uint32_t(*v->value<int64_t>());
    };
    seconds("udp", n.timeouts.udp_s, 120);                      // RFC 4787 REQ-5
    seconds("tcp_established", n.timeouts.tcp_established_s, 7440);  // RFC 5382 REQ-5
    seconds("tcp_transitory", n.timeouts.tcp_transitory_s, 240);     // RFC 5382 REQ-5
    seconds("icmp", n.timeouts.icmp_s, 60);                     // RFC 5508 REQ-1
  }
  if (const toml::table* l = r.table(t, "limits")) {
    r.only_keys(*l, "nat.limits", {"sessions_per_host", "ports_per_host", "port_block_size"});
    r.number(*l, "sessions_per_host", "nat.limits.sessions_per_host", n.limits.sessions, 1, 1 << 24);
    r.number(*l, "ports_per_host", "nat.limits.ports_per_host", n.limits.ports, 1, 1 << 20);
    r.number(*l, "port_block_size", "nat.limits.port_block_size", n.limits.block_size, 1, 32768);
    const uint32_t size = n.limits.block_size;
    if (size && n.limits.ports && n.limits.ports < size)
      r.fail(l->get("ports_per_host"), "nat.limits.ports_per_host",
             std::to_string(n.limits.ports) + " is less than one port block (port_block_size " + std::to_string(size) +
                 "): no host could ever have a port");
    // A block lies inside one worker's share of a range (port_share.hpp).
    const uint32_t workers = std::max<uint32_t>(1, c.workers.value_or(1));
    for (const auto& [name, range] : {std::pair{"tcp", n.tcp_ports}, std::pair{"udp", n.udp_ports}, std::pair{"icmp", n.icmp_ids}})
      if (size > range.size() / workers)
        r.fail(l->get("port_block_size"), "nat.limits.port_block_size",
               std::to_string(size) + " is more than one worker's share of nat.ports." + name + " (" +
                   std::to_string(range.size()) + " ports over " + std::to_string(workers) + " worker(s))");
  }
  if (const toml::table* g = r.table(t, "log")) {
    r.only_keys(*g, "nat.log", {"file", "syslog"});
    if (g->get("file")) {
      n.log.file = r.string(*g, "file", "nat.log.file", true);
      if (n.log.file.empty()) r.fail(g->get("file"), "nat.log.file", "an empty path");
    }
    n.log.syslog = r.boolean(*g, "syslog", "nat.log.syslog", false);
  }
  auto on_outside = [&](net::Ipv4Addr a) {
    for (const std::string& o : n.outside)
      if (port_named(c, o)->address.contains(a)) return true;
    return false;
  };
  auto mss = [&](const toml::table& rule, const std::string& at, uint16_t& out) {
    r.number(rule, "mss_clamp", at + ".mss_clamp", out, 88, 9000);
  };
  if (const toml::node* snat = t.get("snat")) {
    if (!snat->is_array_of_tables()) r.fail(snat, "nat.snat", "must be an array of tables ([[nat.snat]])");
    size_t i = 0;
    for (auto&& e : *snat->as_array()) {
      const toml::table& rule = *e.as_table();
      const std::string at = "nat.snat[" + std::to_string(i++) + "]";
      r.only_keys(rule, at, {"source", "to", "mss_clamp"});
      nat::SnatRule s;
      const std::string src = r.string(rule, "source", at + ".source", true);
      auto prefix = net::Ipv4Prefix::parse(src);
      if (!prefix || src.find('/') == std::string::npos)
        r.fail(rule.get("source"), at + ".source", "'" + src + "' is not a prefix like 10.1.0.0/16");
      s.source = net::Ipv4Prefix{prefix->network(), prefix->length};
      const toml::node* to = rule.get("to");
      if (!to || (to->is_string() && *to->value<std::string>() == "masquerade")) {
        s.masquerade = true;
      } else {
        s.masquerade = false;
        auto add = [&](const toml::node& v) {
          auto a = v.is_string() ? net::Ipv4Addr::parse(*v.value<std::string>()) : std::nullopt;
          if (!a) r.fail(&v, at + ".to", "must be \"masquerade\", an IPv4 address, or an array of them");
          if (!on_outside(*a)) r.fail(&v, at + ".to", a->to_string() + " is on no outside port's network");
          s.pool.push_back(*a);
        };
        if (to->is_array()) {
          for (auto&& v : *to->as_array()) add(v);
          if (s.pool.empty()) r.fail(to, at + ".to", "an empty pool");
        } else {
          add(*to);
        }
      }
      // The outside's addresses are never inside sources: a packet hairpinned through the NAT
      // carries one as its source, and must not be translated again.
      for (const std::string& o : n.outside)
        if (s.source.contains(port_named(c, o)->address.addr))
          r.fail(rule.get("source"), at + ".source", "holds outside port '" + o + "''s address: name inside networks only");
      for (net::Ipv4Addr a : s.pool)
        if (s.source.contains(a)) r.fail(rule.get("source"), at + ".source", "holds pool address " + a.to_string());
      mss(rule, at, s.mss_clamp);
      // The first rule whose source holds a packet's wins (NatRules::snat_for): a rule for
      // sources an earlier one already holds could never apply.
      for (size_t k = 0; k < n.snat.size(); ++k)
        if (n.snat[k].source.length <= s.source.length && n.snat[k].source.contains(s.source.addr))
          r.fail(rule.get("source"), at + ".source",
                 s.source.to_string() + " lies within nat.snat[" + std::to_string(k) + "].source (" +
                     n.snat[k].source.to_string() +
                     "), which comes first and takes every packet of it: this rule could never apply. Put the "
                     "narrower rule first.");
      n.snat.push_back(s);
    }
  }
  if (const toml::node* dnat = t.get("dnat")) {
    if (!dnat->is_array_of_tables()) r.fail(dnat, "nat.dnat", "must be an array of tables ([[nat.dnat]])");
    size_t i = 0;
    for (auto&& e : *dnat->as_array()) {
      const toml::table& rule = *e.as_table();
      const std::string at = "nat.dnat[" + std::to_string(i++) + "]";
      r.only_keys(rule, at, {"protocol", "external", "internal", "mss_clamp"});
      nat::DnatRule d;
      const std::string proto = r.string(rule, "protocol", at + ".protocol", true);
      if (proto == "tcp") d.protocol = 6;
      else if (proto == "udp") d.protocol = 17;
      else r.fail(rule.get("protocol"), at + ".protocol", "'" + proto + "' is neither tcp nor udp");
      const Endpoint ext = endpoint(r, rule, "external", at + ".external");
      const Endpoint in = endpoint(r, rule, "internal", at + ".internal");
      bool external_ok = false;
      for (const std::string& o : n.outside) external_ok |= port_named(c, o)->address.addr == ext.addr;
      for (const nat::SnatRule& s : n.snat)
        for (net::Ipv4Addr a : s.pool) external_ok |= a == ext.addr;
      if (!external_ok)
        r.fail(rule.get("external"), at + ".external",
               ext.addr.to_string() + " is neither an outside port's address nor an SNAT pool address");
      bool internal_ok = false;
      for (const std::string& name : n.inside) internal_ok |= port_named(c, name)->address.contains(in.addr);
      if (!internal_ok) r.fail(rule.get("internal"), at + ".internal", in.addr.to_string() + " is on no inside port's network");
      d.external = ext.addr;
      d.external_port = ext.port;
      d.internal = in.addr;
      d.internal_port = in.port;
      for (const nat::DnatRule& other : n.dnat)
        if (other.protocol == d.protocol && other.external == d.external && other.external_port == d.external_port)
          r.fail(rule.get("external"), at + ".external", "forwarded twice");
      mss(rule, at, d.mss_clamp);
      n.dnat.push_back(d);
    }
  }
  if (n.snat.empty() && n.dnat.empty()) r.fail(&t, "nat", "give at least one [[nat.snat]] or [[nat.dnat]] rule");
  size_t pool = 0;
  for (const nat::SnatRule& s : n.snat) pool += s.pool.size();
  // redline's own addresses share one small table (shared.hpp LocalAddresses) with the ports'.
  if (pool > 64) r.fail(t.get("snat"), "nat.snat", "at most 64 pool addresses in all");
  return n;
}

}  // namespace redline::app
