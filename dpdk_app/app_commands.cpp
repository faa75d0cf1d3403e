// The application's rows of the control command table: what `redlinectl` shows and changes.
// Every handler runs on the control thread; route changes are written there (the route table's
// single writer, published to workers lock-free), neighbor changes are sent to the ARP owner.
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dpdk_app/app.hpp"
#include "stack/pipeline/log.hpp"
#include "stack/nat/session_view.hpp"
#include "stack/pipeline/flow_hash.hpp"
#include "stack/wire/bytes.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::app {

using control::ArgSpec;
using control::CommandError;

namespace {
net::Ipv4Prefix prefix_arg(const control::Json& args, const char* name) {
  const std::string text = args.at(name);
  auto p = net::Ipv4Prefix::parse(text);
  if (!p || text.find('/') == std::string::npos) throw CommandError("'" + text + "' is not a prefix like 10.1.0.0/16");
  return {p->network(), p->length};
}

const char* kind_name(ip::NextHop::Kind k) {
  switch (k) {
    case ip::NextHop::Kind::kForward: return "forward";
    case ip::NextHop::Kind::kLocal: return "local";
    case ip::NextHop::Kind::kBroadcast: return "broadcast";
  }
  return "?";
}
}  // namespace

void App::register_commands() {
  using T = ArgSpec::Type;
  commands_.add({"show counters", "counters summed over workers (or one worker's), with descriptions",
                 {{"core", T::kInt, false, "one worker's counters"},
                  {"nonzero", T::kBool, false, "leave out zeros"},
                  {"delta", T::kBool, false, "what each counted since `counters mark` (since start without one)"}},
                 [this](const Json& a) { return show_counters(a); }});
  commands_.add({"trace add", "follows the next N packets received (on one port, or any) through the stage graph",
                 {{"count", T::kInt, true, "how many packets, 1-1000"}, {"port", T::kString, false, "only those arriving on this port"}},
                 [this](const Json& a) { return trace_add(a); }});
  commands_.add({"show trace", "the packets traced: each stage with the headers on entry, and how each ended", {},
                 [this](const Json&) { return show_trace(); }});
  commands_.add({"trace clear", "forgets the traces and stops tracing", {}, [this](const Json&) {
                   shared_->trace.remaining.store(0, std::memory_order_relaxed);
                   for (auto& w : workers_) {
                     pipeline::Tracer* t = &w->tracer();
                     w->mailbox().call([t] { return t->clear(), 0; }, std::chrono::milliseconds(1000));
                   }
                   return Json{{"cleared", true}};
                 }});
  commands_.add({"counters mark", "remembers every counter now, for show counters --delta (exported counters never reset)",
                 {}, [this](const Json&) {
                   counters_mark_ = take_snapshot(*shared_, workers_);
                   return Json{{"marked", "now"}};
                 }});
  commands_.add({"log level", "shows the log level, or sets it (error, warning, info, debug) without a restart",
                 {{"level", T::kString, false, "error, warning, info or debug"}}, [](const Json& a) {
                   if (a.contains("level")) {
                     const std::string want = a["level"];
                     if (!log::set_level(want.c_str()))
                       throw CommandError("level '" + want + "': error, warning, info or debug");
                     log::write(log::Level::kWarning, "log level set to %s (redlinectl)", want.c_str());
                   }
                   return Json{{"level", log::level_name()}};
                 }});
  commands_.add({"show ports", "ports: link, packets, bytes, errors, rates over the last second, queues, xstats", {},
                 [this](const Json&) { return show_ports(); }});
  commands_.add({"show routes", "the routing table: connected, local, broadcast and static routes", {},
                 [this](const Json&) { return show_routes(); }});
  commands_.add({"show neighbors", "the neighbor (ARP) table", {}, [this](const Json&) { return show_neighbors(); }});
  commands_.add({"show workers", "workers: lcore, busy share over the last second, packets", {},
                 [this](const Json&) { return show_workers(); }});
  commands_.add({"show nat", "NAT sessions and mappings per worker, external addresses, filtering", {},
                 [this](const Json&) { return show_nat(); }});
  const std::vector<ArgSpec> session_filter = {
      {"inside", T::kString, false, "the inside host: ADDR or ADDR:PORT"},
      {"outside", T::kString, false, "the remote host on the outside: ADDR or ADDR:PORT"},
      {"external", T::kString, false, "the NAT's own address: ADDR or ADDR:PORT"},
      {"proto", T::kString, false, "tcp, udp, icmp or a number"}};
  std::vector<ArgSpec> listing = session_filter;
  listing.push_back({"limit", T::kInt, false, "at most this many (default 1000, at most 100000)"});
  commands_.add({"show nat sessions", "NAT sessions, conntrack -L style: each one's endpoints, state and idle time",
                 listing, [this](const Json& a) { return show_nat_sessions(a); }});
  commands_.add({"nat flush", "ends the NAT sessions the filters select (all without one), conntrack -D style",
                 session_filter, [this](const Json& a) { return nat_flush(a); }});
  commands_.add({"show tcp", "TCP per worker: connections, TIME-WAIT; the built-in clients' totals", {},
                 [this](const Json&) { return show_tcp(); }});
  commands_.add({"show connections", "every TCP connection, ss-style: state, addresses, options, cwnd, RTT, queues", {},
                 [this](const Json&) { return show_connections(); }});
  commands_.add({"show config", "the config file as read at start or the last reload, and the running state beside it",
                 {}, [this](const Json&) { return show_config(); }});
  commands_.add({"route add", "adds a static route while traffic flows (replaces one for the same prefix; reload keeps it)",
                 {{"prefix", T::kString, true, "destination, e.g. 10.9.0.0/16"},
                  {"via", T::kString, true, "gateway on a connected network; several, comma-separated, for ECMP"}},
                 [this](const Json& a) { return route_add(a); }});
  commands_.add({"route get", "the route and next hop a datagram to ADDRESS takes (for an ECMP route, the flow's path)",
                 {{"address", T::kString, true, "destination"},
                  {"from", T::kString, false, "source address (ECMP: picks the flow's path)"},
                  {"proto", T::kString, false, "tcp, udp, icmp or a number (ECMP)"},
                  {"sport", T::kInt, false, "source port (ECMP, TCP and UDP)"},
                  {"dport", T::kInt, false, "destination port (ECMP, TCP and UDP)"}},
                 [this](const Json& a) { return route_get(a); }});
  commands_.add({"route del", "removes a static route", {{"prefix", T::kString, true, "destination"}},
                 [this](const Json& a) { return route_del(a); }});
  commands_.add({"neighbor flush", "forgets one neighbor, or all; they are resolved again when needed",
                 {{"ip", T::kString, false, "one neighbor's address"}},
                 [this](const Json& a) { return neighbor_flush(a); }});
  commands_.add({"reload", "re-reads the config file and applies what can change while running",
                 {}, [this](const Json&) {
                   Json r = reload();
                   if (r.contains("error")) throw CommandError(r["error"].get<std::string>());
                   return r;
                 }});
}

bool App::open_control(std::string* error) {
  if (commands_.commands().size() == 1) register_commands();
  if (config_.control.socket.empty()) return true;
  server_ = control::Server::open(config_.control.socket, commands_, error);
  if (!server_) return false;
  std::printf("redline: control socket %s\n", config_.control.socket.c_str());
  return true;
}

App::Json App::show_counters(const Json& args) const {
  const Snapshot now = take_snapshot(*shared_, workers_);
  const bool nonzero = args.value("nonzero", false);
  std::optional<size_t> core;
  if (args.contains("core")) {
    const int64_t c = args["core"];
    if (c < 0 || size_t(c) >= now.cores.size())
      throw CommandError("no worker " + std::to_string(c) + " (workers 0-" + std::to_string(now.cores.size() - 1) + ")");
    core = size_t(c);
  }
  const bool delta = args.value("delta", false);
  auto value = [&](const Snapshot& s, size_t c) -> uint64_t {
    if (core) return *core < s.cores.size() ? s.cores[*core][c] : 0;
    return s.total(net::Counter(c));
  };
  Json list = Json::array();
  for (size_t c = 0; c < net::kCounterCount; ++c) {
    const uint64_t v = value(now, c) - (delta ? value(counters_mark_, c) : 0);
    if (nonzero && v == 0) continue;
    list.push_back({{"name", net::kCounterNames[c]}, {"value", v}, {"description", net::kCounterDescriptions[c]}});
  }
  Json out = {{"core", core ? Json(*core) : Json("all")}, {"counters", list}};
  if (delta)
    out["since_s"] = std::round(double(now.tsc - (counters_mark_.tsc ? counters_mark_.tsc : started_tsc_)) / double(now.tsc_hz) * 10) / 10;
  return out;
}

App::Json App::show_ports() const {
  const Snapshot now = take_snapshot(*shared_, workers_);
  // The rates over the last second or more: against the older of the control loop's two
  // snapshots (the newer one may be microseconds old, and a rate over that reads 0).
  const Snapshot& before = snapshots_[0];
  const double seconds = now.tsc > before.tsc ? double(now.tsc - before.tsc) / double(now.tsc_hz) : 0;
  Json list = Json::array();
  for (size_t i = 0; i < now.ports.size(); ++i) {
    const PortSnapshot& p = now.ports[i];
    const PortSnapshot* b = i < before.ports.size() ? &before.ports[i] : nullptr;
    auto rate = [&](uint64_t PortSnapshot::*field) {
      return b && seconds > 0 ? double(p.*field - b->*field) / seconds : 0.0;
    };
    Json queues = Json::array();
    for (size_t q = 0; q < p.rx_queue_packets.size(); ++q)
      queues.push_back({{"queue", q}, {"rx_packets", p.rx_queue_packets[q]}, {"tx_packets", p.tx_queue_packets[q]}});
    Json xstats = Json::object();
    for (const auto& x : p.xstats)
      if (summary_shows(x)) xstats[x.first] = x.second;
    list.push_back({{"name", p.name},
                    {"device", p.device},
                    {"link_up", p.link_up},
                    {"speed_mbps", p.speed_mbps},
                    {"rx_packets", p.rx_packets},
                    {"tx_packets", p.tx_packets},
                    {"rx_bytes", p.rx_bytes},
                    {"tx_bytes", p.tx_bytes},
                    {"rx_missed", p.rx_missed},
                    {"rx_errors", p.rx_errors},
                    {"tx_errors", p.tx_errors},
                    {"rx_nombuf", p.rx_nombuf},
                    {"rx_pps", rate(&PortSnapshot::rx_packets)},
                    {"tx_pps", rate(&PortSnapshot::tx_packets)},
                    {"rx_bps", 8 * rate(&PortSnapshot::rx_bytes)},  // bits a second (ethdev bytes: no FCS)
                    {"tx_bps", 8 * rate(&PortSnapshot::tx_bytes)},
                    {"queues", queues},
                    {"xstats", xstats}});
  }
  return list;
}

App::Json App::show_routes() const {
  Json list = Json::array();
  for (const ip::Route& r : routes_->routes()) {
    // An ECMP route is a row per path, its prefix on each.
    for (const ip::NextHop& h : r.hops) {
      Json row = {{"prefix", r.prefix.to_string()}, {"kind", kind_name(h.kind)}, {"port", shared_->ports[h.port].name}};
      if (!h.gateway.is_unspecified()) row["via"] = h.gateway.to_string();
      if (r.hops.size() > 1) row["paths"] = r.hops.size();
      if (learned_.count({r.prefix.addr.value, r.prefix.length})) row["learned"] = "kernel";
      list.push_back(row);
    }
  }
  return list;
}

App::Json App::show_neighbors() const {
  rte_rcu_qsbr* q = shared_->qsbr;
  const uint32_t me = shared_->workers;  // the control thread's slot
  if (q) rte_rcu_qsbr_thread_online(q, me);
  auto entries = neighbors_->list();
  if (q) rte_rcu_qsbr_thread_offline(q, me);
  Json list = Json::array();
  for (const auto& [ip, n] : entries) {
    if (n.unreachable()) list.push_back({{"ip", ip.to_string()}, {"state", "unreachable"}});
    else
      list.push_back({{"ip", ip.to_string()}, {"mac", n.mac.to_string()}, {"port", shared_->ports[n.port].name},
                      {"state", "reachable"}});
  }
  return list;
}

App::Json App::show_workers() const {
  Json list = Json::array();
  for (size_t w = 0; w < workers_.size(); ++w)
    list.push_back({{"core", w},
                    {"lcore", lcores_[w]},
                    {"busy_ratio", busy_share(snapshots_[0], snapshots_[1], w)},
                    {"rx_packets", workers_[w]->counters().get(net::Counter::rx_packets)},
                    {"tx_packets", workers_[w]->counters().get(net::Counter::tx_packets)}});
  return list;
}

App::Json App::route_add(const Json& args) {
  const net::Ipv4Prefix prefix = prefix_arg(args, "prefix");
  std::string error;
  auto route = runtime_route(config_, prefix, args.at("via"), &error);
  if (!route) throw CommandError(error);
  if (!add_static_route(*route, &error)) throw CommandError(error);
  std::erase_if(config_.routes, [&](const RouteConfig& r) { return r.same_prefix(prefix); });
  config_.routes.push_back(*route);
  return {{"added", prefix.to_string()}, {"via", route->via_text()}};
}

App::Json App::show_config() const {
  // What runs may differ from the file: routes added or learned at run time, a file edited
  // since it was read, a log level changed with `log level`.
  Json routes = Json::array();
  for (const RouteConfig& r : config_.routes)
    routes.push_back({{"prefix", r.prefix.to_string()}, {"via", r.via_text()}, {"source", r.runtime ? "route add" : "file"}});
  for (const auto& [key, hops] : learned_) {
    std::string via;
    for (const ip::NextHop& h : hops) via += (via.empty() ? "" : ",") + h.gateway.to_string();
    routes.push_back({{"prefix", net::Ipv4Prefix{net::Ipv4Addr{key.first}, key.second}.to_string()}, {"via", via},
                      {"source", "learned (kernel)"}});
  }
  std::string now;
  if (std::ifstream in(config_path_); in) now.assign(std::istreambuf_iterator<char>(in), {});
  return {{"path", config_path_},
          {"text", config_text_},
          {"file_changed_since_read", !config_path_.empty() && now != config_text_},
          {"running", {{"routes", routes}, {"log_level", log::level_name()}, {"workers", workers_.size()}}}};
}

App::Json App::trace_add(const Json& args) {
  const long long count = args.at("count");
  if (count < 1 || count > long(pipeline::Tracer::kMaxRecords))
    throw CommandError("count: " + std::to_string(count) + " is not 1-" + std::to_string(pipeline::Tracer::kMaxRecords));
  int32_t port = -1;
  if (args.contains("port")) {
    const std::string name = args["port"];
    for (size_t p = 0; p < shared_->ports.size(); ++p)
      if (shared_->ports[p].name == name) port = int32_t(p);
    if (port < 0) throw CommandError("no port '" + name + "'");
  }
  shared_->trace.port.store(port, std::memory_order_relaxed);
  shared_->trace.remaining.store(count, std::memory_order_relaxed);
  return {{"tracing", count}, {"port", port < 0 ? "any" : args["port"].get<std::string>()}};
}

App::Json App::show_trace() const {
  Json out = Json::array();
  for (size_t w = 0; w < workers_.size(); ++w) {
    const pipeline::Tracer* t = &workers_[w]->tracer();
    auto records = workers_[w]->mailbox().call([t] { return t->records(); }, std::chrono::milliseconds(1000));
    if (!records) {
      out.push_back({{"worker", w}, {"error", "worker did not answer within 1 s"}});
      continue;
    }
    for (const pipeline::TraceRecord& r : *records) {
      Json steps = Json::array();
      for (const auto& s : r.steps) steps.push_back({{"stage", s.stage}, {"headers", s.headers}});
      out.push_back({{"worker", w}, {"packet", r.number}, {"in_port", shared_->ports[r.in_port].name},
                     {"verdict", r.verdict}, {"steps", steps}});
    }
  }
  return {{"remaining", shared_->trace.remaining.load(std::memory_order_relaxed)}, {"packets", out}};
}

App::Json App::route_get(const Json& args) const {
  const std::string text = args.at("address");
  auto dst = net::Ipv4Addr::parse(text);
  if (!dst) throw CommandError("'" + text + "' is not an IPv4 address");
  const ip::Route* r = routes_->route_for(*dst);
  if (!r) return {{"address", dst->to_string()}, {"route", "none: unreachable (ipv4_no_route)"}};
  Json out = {{"address", dst->to_string()}, {"route", r->prefix.to_string()}, {"kind", kind_name(r->hop().kind)}};
  // The path a flow takes: the one the workers pick for this datagram (flow_hash.hpp).
  size_t path = 0;
  if (r->hops.size() > 1) {
    std::string why;
    const uint8_t protocol = args.contains("proto") ? nat::parse_protocol(args["proto"].get<std::string>(), &why) : 0;
    if (!why.empty()) throw CommandError("proto: " + why);
    const std::optional<net::Ipv4Addr> from =
        args.contains("from") ? net::Ipv4Addr::parse(args["from"].get<std::string>()) : std::optional(net::Ipv4Addr{});
    if (!from) throw CommandError("from: '" + args["from"].get<std::string>() + "' is not an IPv4 address");
    // The datagram's first bytes as the route stage hashes them (flow_hash.hpp).
    uint8_t header[wire::ipv4::kMinHeaderLen + 4] = {};
    wire::ipv4::Repr ip;
    ip.total_len = sizeof header;
    ip.ttl = 64;
    ip.protocol = protocol;
    ip.src = *from;
    ip.dst = *dst;
    wire::ipv4::write(header, ip);
    wire::store16(header + wire::ipv4::kMinHeaderLen, 0, uint16_t(args.value("sport", 0LL)));
    wire::store16(header + wire::ipv4::kMinHeaderLen, 2, uint16_t(args.value("dport", 0LL)));
    path = pipeline::flow_hash(header) % r->hops.size();
    out["paths"] = r->hops.size();
  }
  const ip::NextHop& h = r->hops[path];
  out["port"] = shared_->ports[h.port].name;
  out["via"] = h.gateway.is_unspecified() ? dst->to_string() + " (connected)" : h.gateway.to_string();
  if (auto n = neighbors_->lookup(h.gateway.is_unspecified() ? *dst : h.gateway); n && !n->unreachable())
    out["mac"] = n->mac.to_string();
  return out;
}

App::Json App::route_del(const Json& args) {
  const net::Ipv4Prefix prefix = prefix_arg(args, "prefix");
  auto it = std::find_if(config_.routes.begin(), config_.routes.end(), [&](const RouteConfig& r) {
    return r.same_prefix(prefix);
  });
  if (it == config_.routes.end()) throw CommandError("no static route for " + prefix.to_string());
  if (!routes_->remove(prefix)) throw CommandError("the route table refused to remove " + prefix.to_string());
  config_.routes.erase(it);
  return {{"removed", prefix.to_string()}};
}

App::Json App::neighbor_flush(const Json& args) {
  void* word = pipeline::arp_command(pipeline::ArpCommand::kFlushAll);
  std::string what = "all neighbors";
  if (args.contains("ip")) {
    const std::string text = args["ip"];
    auto ip = net::Ipv4Addr::parse(text);
    if (!ip) throw CommandError("'" + text + "' is not an IPv4 address");
    word = pipeline::arp_command(pipeline::ArpCommand::kFlushOne, *ip);
    what = ip->to_string();
  }
  if (rte_ring_sp_enqueue(shared_->arp_commands, word) != 0) throw CommandError("the ARP owner is busy: try again");
  return {{"flushing", what}};
}

void App::publish_settings(const pipeline::Settings& settings) {
  const pipeline::Settings* old = shared_->live_settings.exchange(new pipeline::Settings(settings), std::memory_order_release);
  // Freed once every worker has passed a loop boundary, after which none can still be reading it.
  if (old) {
    if (shared_->qsbr) rte_rcu_qsbr_synchronize(shared_->qsbr, RTE_QSBR_THRID_INVALID);
    delete old;
  }
}

App::Json App::reload() {
  Json r = reload_file();
  // logrotate's postrotate sends SIGHUP: the NAT log goes on in a file of the same name.
  if (nat_log_) {
    drain_nat_log();  // what was logged before, into the old file
    std::string error;
    if (!nat_log_->reopen(&error)) log::write(log::Level::kError, "reload: %s (still writing the old file)", error.c_str());
  }
  const bool applied = !r.contains("error");
  (applied ? reloads_applied_ : reloads_refused_).fetch_add(1, std::memory_order_relaxed);
  last_reload_applied_.store(applied, std::memory_order_relaxed);
  return r;
}

App::Json App::reload_file() {
  if (config_path_.empty()) return {{"error", "redline was not started from a config file"}};
  std::ifstream in(config_path_);
  if (!in) return {{"error", config_path_ + ": cannot open: " + std::strerror(errno)}};
  std::stringstream text;
  text << in.rdbuf();
  const std::string loaded_text = text.str();
  auto loaded = parse_config(loaded_text, config_path_, HostFacts::read());
  if (!loaded.config) return {{"error", loaded.error}};
  const Config& next = *loaded.config;
  // Static routes change while running: new and changed ones first (a changed gateway replaces
  // the route in place, with no moment without it), then the ones the file no longer has.
  // `config_.routes` follows every step, so it always says what the table holds.
  Json removed = Json::array(), added = Json::array(), restart = Json::array();
  // NAT rules first: when they cannot be applied, nothing else is either. New sessions follow the
  // new rules; sessions made before keep their translation.
  bool nat_applied = false;
  if (next.nat != config_.nat) {
    if (next.nat.enabled != config_.nat.enabled) {
      restart.push_back("nat");
    } else {
      std::string error;
      if (!replace_nat_rules(next.nat, &error)) return {{"error", error}};
      config_.nat = next.nat;
      nat_applied = true;
    }
  }
  auto same_prefix = [](const RouteConfig& a, const RouteConfig& b) {
    return a.same_prefix(b.prefix);
  };
  // The file's routes win over routes added at run time for the same prefix; run-time routes
  // for other prefixes are kept (said in routes_kept), since the operator added them on purpose.
  Json kept = Json::array();
  for (const RouteConfig& n : next.routes) {
    auto current = std::find_if(config_.routes.begin(), config_.routes.end(), [&](const RouteConfig& r) { return same_prefix(r, n); });
    if (current != config_.routes.end() && current->via == n.via && !current->runtime) continue;
    std::string error;
    if (!add_static_route(n, &error)) return {{"error", error + " (routes before it in the file were applied)"}};
    if (current != config_.routes.end()) *current = n;
    else config_.routes.push_back(n);
    added.push_back(n.prefix.to_string() + " via " + n.via_text());
  }
  for (auto it = config_.routes.begin(); it != config_.routes.end();) {
    if (std::any_of(next.routes.begin(), next.routes.end(), [&](const RouteConfig& n) { return same_prefix(n, *it); })) {
      ++it;
      continue;
    }
    if (it->runtime) {
      kept.push_back(it->prefix.to_string() + " via " + it->via_text());
      ++it;
      continue;
    }
    routes_->remove(it->prefix);
    removed.push_back(it->prefix.to_string());
    it = config_.routes.erase(it);
  }
  auto differs = [&](const char* section, bool changed) {
    if (changed) restart.push_back(section);
  };
  differs("workers", next.workers != config_.workers);
  differs("tcp", next.tcp != config_.tcp);
  differs("services", next.services != config_.services);
  differs("ports", next.ports.size() != config_.ports.size() ||
                       !std::equal(next.ports.begin(), next.ports.end(), config_.ports.begin(), [](const PortConfig& a, const PortConfig& b) {
                         return a.name == b.name && a.device == b.device && a.address == b.address && a.mtu == b.mtu &&
                                a.mac == b.mac && a.rx_descriptors == b.rx_descriptors && a.tx_descriptors == b.tx_descriptors &&
                                a.kernel == b.kernel;
                       }));
  auto same_bytes = [](const auto& a, const auto& b) { return std::memcmp(&a, &b, sizeof a) == 0; };
  // ARP and ICMP settings change while running: workers take a new copy (Shared::live_settings).
  Json applied = Json::array();
  if (nat_applied) applied.push_back("nat");
  if (!same_bytes(next.arp, config_.arp) || !same_bytes(next.icmp, config_.icmp)) {
    if (!same_bytes(next.arp, config_.arp)) applied.push_back("arp");
    if (!same_bytes(next.icmp, config_.icmp)) applied.push_back("icmp");
    // table_size sizes the neighbor table, made once.
    differs("arp.table_size", next.arp.table_size != config_.arp.table_size);
    config_.arp = next.arp;
    config_.arp.table_size = shared_->neighbors->capacity();
    config_.icmp = next.icmp;
    publish_settings(settings_of(config_));
  }
  differs("ip", !(next.ip == config_.ip));
  differs("pipeline", !same_bytes(next.pipeline, config_.pipeline));
  differs("control", next.control.socket != config_.control.socket || next.control.metrics != config_.control.metrics);
  differs("log", next.log.level != config_.log.level || next.log.file != config_.log.file);
  config_text_ = loaded_text;
  return {{"routes_removed", removed}, {"routes_added", added}, {"routes_kept", kept}, {"settings_applied", applied},
          {"needs_restart", restart}};
}

}  // namespace redline::app
