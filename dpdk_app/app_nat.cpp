// The NAT's part of the appliance: resolving [nat] at start, replacing its rules on reload,
// `show nat`, and the sessions listed and flushed (`show nat sessions`, `nat flush`).
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "dpdk_app/app.hpp"
#include "stack/nat/nat_stage.hpp"
#include "stack/pipeline/log.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::app {

namespace {
std::vector<nat::PortAddress> port_addresses(const pipeline::Shared& s) {
  std::vector<nat::PortAddress> out;
  for (const pipeline::PortInfo& p : s.ports) out.push_back({p.name, p.address});
  return out;
}

// The filters of `show nat sessions` and `nat flush`; CommandError names a bad one.
nat::SessionFilter session_filter(const control::Json& args) {
  nat::SessionFilter f;
  std::string error;
  auto endpoint = [&](const char* name, std::optional<nat::EndpointMatch>* into) {
    if (!args.contains(name)) return;
    *into = nat::parse_endpoint_match(args[name].get<std::string>(), &error);
    if (!*into) throw control::CommandError(std::string(name) + ": " + error);
  };
  endpoint("inside", &f.inside);
  endpoint("outside", &f.remote);
  endpoint("external", &f.external);
  if (args.contains("proto") && !(f.protocol = nat::parse_protocol(args["proto"].get<std::string>(), &error)))
    throw control::CommandError("proto: " + error);
  return f;
}

control::Json endpoint_json(const nat::EndpointBe& e, uint8_t protocol) {
  std::string s = net::Ipv4Addr{net::to_be(e.ip)}.to_string();
  if (protocol == wire::ipv4::kProtoTcp || protocol == wire::ipv4::kProtoUdp || protocol == wire::ipv4::kProtoIcmp)
    s += ":" + std::to_string(net::to_be(e.port));  // an ICMP echo's identifier in the port's place
  return s;
}

// Pool entries a worker looks at per job: ~2,000 sessions take it tens of microseconds.
constexpr uint32_t kScanSlice = 2048;
constexpr uint32_t kDefaultLimit = 1000, kMaxLimit = 100000;
constexpr std::chrono::milliseconds kWorkerAnswer{1000};
}  // namespace

// Pool addresses are ours on the outside port whose network holds them: ARP answers for them,
// and what no session claims is delivered to redline rather than forwarded. Addresses are only
// ever added (a reload that drops one leaves it answered: its mappings may still live).
bool App::claim_externals(const nat::NatRules& rules, std::string* error) {
  pipeline::Shared& s = *shared_;
  for (uint32_t be : rules.externals()) {
    const net::Ipv4Addr a{net::to_be(be)};
    if (s.local.find(a).kind != pipeline::LocalAddresses::Kind::kNone) continue;  // a port's own, or claimed
    for (size_t p = 0; p < s.ports.size(); ++p) {
      if (!rules.outside(uint16_t(p)) || !s.ports[p].address.contains(a)) continue;
      if (!routes_->add({a, 32}, {ip::NextHop::Kind::kLocal, uint16_t(p), {}}, error)) return false;
      if (!s.local.add(a, pipeline::LocalAddresses::Kind::kAddress, uint16_t(p))) {
        *error = "nat: no room for pool address " + a.to_string() + " among redline's own addresses";
        return false;
      }
      break;
    }
  }
  return true;
}

bool App::setup_nat(const Config& config, std::string* error) {
  pipeline::Shared& s = *shared_;
  // Each worker owns a block of every range (port_share.hpp), of at least one port. (A block of
  // few ports works, but its ports can rarely be steered: replies then change cores.)
  const std::pair<const char*, nat::PortRange> ranges[] = {
      {"tcp", config.nat.tcp_ports}, {"udp", config.nat.udp_ports}, {"icmp", config.nat.icmp_ids}};
  // The kernel's ephemeral ports on outside ports with a kernel path: checked with the config
  // (config.cpp, check_kernel_ephemeral), before EAL starts.
  for (const auto& [name, range] : ranges)
    if (range.size() < s.workers) {
      *error = std::string("nat.ports.") + name + ": " + std::to_string(range.size()) + " ports for " +
               std::to_string(s.workers) + " workers: give at least one per worker";
      return false;
    }
  auto rules = nat::NatRules::resolve(config.nat, port_addresses(s), error);
  if (!rules) return false;
  if (!claim_externals(*rules, error)) return false;
  // Where the NAT's port claims hold in the workers' port registries: the external addresses at
  // start (a reload that adds one leaves its ports to the NAT's own checks).
  s.nat_outside = rules->externals();
  if (config.nat.log.on()) {
    nat_log_ = nat::LogSink::open(config.nat.log, error);
    if (!nat_log_) return false;
  }
  nat_ = std::make_unique<nat::NatShared>(std::move(*rules));
  nat::add_nat_feature(s, *nat_);
  log::write(log::Level::kInfo, "nat: %zu inside and %zu outside ports, %zu external addresses, %u sessions per worker (%zu bytes each)",
             config.nat.inside.size(), config.nat.outside.size(), nat_->in_force->externals().size(), config.nat.max_sessions,
             sizeof(nat::Session));
  return true;
}

void App::drain_nat_log() {
  if (!nat_log_ || !nat_) return;
  nat::LogRecord records[256];
  bool wrote = false;
  for (const auto& ring : nat_->logs)
    // Bounded: a worker logging faster than this drains waits for the next loop, and its ring
    // counts what it loses.
    for (int round = 0; round < 64; ++round) {
      const uint32_t n = ring->pop(records, 256);
      for (uint32_t i = 0; i < n; ++i) nat_log_->write(records[i]);
      wrote |= n > 0;
      if (n < 256) break;
    }
  if (wrote) nat_log_->flush();
}

bool App::replace_nat_rules(const nat::NatConfig& next, std::string* error) {
  const nat::NatRules* current = nat_->rules.load(std::memory_order_acquire);
  auto rules = nat::NatRules::resolve(next, port_addresses(*shared_), error);
  if (!rules) return false;
  const nat::NatConfig& now = current->config();
  if (next.max_sessions != now.max_sessions || next.tcp_ports != now.tcp_ports || next.udp_ports != now.udp_ports ||
      next.icmp_ids != now.icmp_ids || next.inside != now.inside || next.outside != now.outside ||
      next.limits != now.limits || next.log != now.log) {
    *error = "nat: max_sessions, the port ranges, the inside/outside ports, [nat.limits] and [nat.log] are fixed at "
             "start: changing them needs a restart";
    return false;
  }
  if (!claim_externals(*rules, error)) return false;
  auto fresh = std::make_unique<nat::NatRules>(std::move(*rules));
  nat_->rules.store(fresh.get(), std::memory_order_release);
  // No worker reads the old rules once each has passed a quiescent state.
  if (shared_->qsbr) rte_rcu_qsbr_synchronize(shared_->qsbr, RTE_QSBR_THRID_INVALID);
  nat_->in_force = std::move(fresh);
  return true;
}

App::Json App::show_nat_sessions(const Json& args) const { return scan_nat_sessions(args, false); }

App::Json App::nat_flush(const Json& args) { return scan_nat_sessions(args, true); }

App::Json App::scan_nat_sessions(const Json& args, bool flush) const {
  if (!nat_) throw control::CommandError("the NAT is not configured (no [nat] in the config)");
  const nat::SessionFilter filter = session_filter(args);
  const long long asked = args.value("limit", (long long)kDefaultLimit);
  if (asked < 1 || asked > kMaxLimit)
    throw control::CommandError("limit: " + std::to_string(asked) + " is not 1-" + std::to_string(kMaxLimit));
  uint32_t left = flush ? UINT32_MAX : uint32_t(asked);
  Json rows = Json::array(), unanswered = Json::array();
  uint64_t flushed = 0;
  bool truncated = false;
  for (size_t w = 0; w < nat_->stages.size() && w < workers_.size(); ++w) {
    nat::NatStage* st = nat_->stages[w];
    if (!st) continue;
    for (uint32_t at = 0; at < st->capacity();) {
      if (!left) {
        truncated = true;
        break;
      }
      auto scan = workers_[w]->mailbox().call(
          [st, at, filter, left, flush] { return st->scan_sessions(at, kScanSlice, filter, left, flush); }, kWorkerAnswer);
      if (!scan) {
        unanswered.push_back(w);
        break;
      }
      flushed += scan->flushed;
      for (const auto& r : scan->rows) {
        Json row = {{"worker", w},
                    {"proto", nat::protocol_name(r.protocol)},
                    {"inside", endpoint_json(r.ends.inside, r.protocol)},
                    {"external", endpoint_json(r.ends.external, r.protocol)},
                    {"outside", endpoint_json(r.ends.remote, r.protocol)},
                    {"kind", (r.flags & nat::kInitiatorInside) ? "snat" : "dnat"}};
        row["state"] = r.protocol == wire::ipv4::kProtoTcp ? nat::tcp_state_name(r.tcp_state) : "-";
        row["idle_s"] = std::round(r.idle_s * 10) / 10;
        row["expires_s"] = std::round(r.expires_s * 10) / 10;
        rows.push_back(std::move(row));
      }
      left -= std::min<uint32_t>(left, uint32_t(scan->rows.size()));
      at = scan->next;
    }
  }
  Json out;
  if (flush) out = {{"flushed", flushed}};
  else out = {{"sessions", rows}, {"listed", rows.size()}, {"truncated", truncated}};
  // A worker that did not answer (stuck, or stopping): said, not silently left out.
  if (!unanswered.empty()) out["workers_not_answering"] = unanswered;
  return out;
}

App::Json App::show_nat() const {
  if (!nat_) return {{"enabled", false}};
  const nat::NatRules& r = *nat_->rules.load(std::memory_order_acquire);
  Json workers = Json::array();
  uint64_t sessions = 0, mappings = 0, memory = 0, capacity = 0;
  for (size_t w = 0; w < nat_->stages.size(); ++w) {
    const nat::NatStage* st = nat_->stages[w];
    const uint32_t n = st ? st->sessions() : 0, m = st ? st->mappings() : 0;
    sessions += n;
    mappings += m;
    memory += st ? st->memory_bytes() : 0;
    capacity += st ? st->capacity() : 0;
    workers.push_back({{"worker", w}, {"sessions", n}, {"mappings", m}});
  }
  Json externals = Json::array();
  for (uint32_t be : r.externals()) externals.push_back(net::Ipv4Addr{net::to_be(be)}.to_string());
  return {{"enabled", true},
          {"sessions", sessions},
          {"mappings", mappings},
          {"max_sessions_per_worker", r.config().max_sessions},
          {"session_entry_bytes", sizeof(nat::Session)},
          {"memory_bytes", memory},
          {"memory_per_session_bytes", capacity ? memory / capacity : 0},
          {"externals", externals},
          {"filtering", r.config().filtering == nat::Filtering::kAddressDependent ? "address-dependent" : "endpoint-independent"},
          // RFC 6888 limits per inside host (0: none) and the allocation log.
          {"limits",
           {{"sessions_per_host", r.config().limits.sessions},
            {"ports_per_host", r.config().limits.ports},
            {"port_block_size", r.config().limits.block_size}}},
          {"log", {{"file", r.config().log.file}, {"syslog", r.config().log.syslog}}},
          {"workers", workers}};
}

}  // namespace redline::app
