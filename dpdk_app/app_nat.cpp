// The NAT's part of the appliance: resolving [nat] at start, replacing its rules on reload,
// and `show nat`.
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstdio>

#include "dpdk_app/app.hpp"
#include "stack/nat/nat_stage.hpp"
#include "stack/pipeline/log.hpp"

namespace redline::app {

namespace {
std::vector<nat::PortAddress> port_addresses(const pipeline::Shared& s) {
  std::vector<nat::PortAddress> out;
  for (const pipeline::PortInfo& p : s.ports) out.push_back({p.name, p.address});
  return out;
}
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
  nat_ = std::make_unique<nat::NatShared>(std::move(*rules));
  nat::add_nat_feature(s, *nat_);
  log::write(log::Level::kInfo, "nat: %zu inside and %zu outside ports, %zu external addresses, %u sessions per worker (%zu bytes each)",
             config.nat.inside.size(), config.nat.outside.size(), nat_->in_force->externals().size(), config.nat.max_sessions,
             sizeof(nat::Session));
  return true;
}

bool App::replace_nat_rules(const nat::NatConfig& next, std::string* error) {
  const nat::NatRules* current = nat_->rules.load(std::memory_order_acquire);
  auto rules = nat::NatRules::resolve(next, port_addresses(*shared_), error);
  if (!rules) return false;
  const nat::NatConfig& now = current->config();
  if (next.max_sessions != now.max_sessions || next.tcp_ports != now.tcp_ports || next.udp_ports != now.udp_ports ||
      next.icmp_ids != now.icmp_ids || next.inside != now.inside || next.outside != now.outside) {
    *error = "nat: max_sessions, the port ranges and the inside/outside ports are fixed at start: changing them needs a restart";
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
          {"workers", workers}};
}

}  // namespace redline::app
