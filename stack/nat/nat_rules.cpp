#include "stack/nat/nat_rules.hpp"

#include <algorithm>

#include "stack/wire/ipv4.hpp"

namespace redline::nat {

namespace {
uint32_t be(net::Ipv4Addr a) { return net::to_be(a.value); }
int find_port(const std::vector<PortAddress>& ports, const std::string& name) {
  for (size_t i = 0; i < ports.size(); ++i)
    if (ports[i].name == name) return int(i);
  return -1;
}
}  // namespace

std::optional<NatRules> NatRules::resolve(const NatConfig& c, const std::vector<PortAddress>& ports, std::string* error) {
  NatRules r;
  r.config_ = c;
  r.port_external_.assign(ports.size(), -1);
  for (const std::string& name : c.inside) {
    const int p = find_port(ports, name);
    if (p < 0 || p >= 64) return *error = "nat.inside: no port named '" + name + "'", std::nullopt;
    r.inside_ |= uint64_t(1) << p;
  }
  for (const std::string& name : c.outside) {
    const int p = find_port(ports, name);
    if (p < 0 || p >= 64) return *error = "nat.outside: no port named '" + name + "'", std::nullopt;
    if (r.inside_ >> p & 1) return *error = "nat: port '" + name + "' is both inside and outside", std::nullopt;
    r.outside_ |= uint64_t(1) << p;
    r.port_external_[size_t(p)] = int(r.externals_.size());
    r.add_external(be(ports[size_t(p)].address.addr));
  }
  for (const SnatRule& s : c.snat)
    for (net::Ipv4Addr a : s.pool) {
      const bool on_outside = std::any_of(c.outside.begin(), c.outside.end(), [&](const std::string& n) {
        return ports[size_t(find_port(ports, n))].address.contains(a);
      });
      if (!on_outside) return *error = "nat.snat: pool address " + a.to_string() + " is on no outside port's network", std::nullopt;
      if (r.external_index(be(a)) < 0) r.add_external(be(a));
    }
  for (const DnatRule& d : c.dnat)
    if (r.external_index(be(d.external)) < 0)
      return *error = "nat.dnat: external " + d.external.to_string() + " is neither an outside port's address nor a pool address",
             std::nullopt;
  return r;
}

void NatRules::add_external(uint32_t ip_be) {
  // Two outside ports may share an address: the index keeps the first.
  if (external_index(ip_be) < 0) {
    if ((externals_.size() + 1) * 2 > index_.size()) {
      index_.assign(index_.size() * 2, IndexEntry{0, -1});
      for (size_t i = 0; i < externals_.size(); ++i) place(externals_[i], int32_t(i));
    }
    place(ip_be, int32_t(externals_.size()));
  }
  externals_.push_back(ip_be);
}

void NatRules::place(uint32_t ip_be, int32_t index) {
  const uint32_t mask = uint32_t(index_.size() - 1);
  uint32_t i = slot_of(ip_be, mask);
  while (index_[i].index >= 0) i = (i + 1) & mask;
  index_[i] = {ip_be, index};
}

const SnatRule* NatRules::snat_for(uint32_t src_be) const {
  const net::Ipv4Addr src{net::to_be(src_be)};
  for (const SnatRule& s : config_.snat)
    if (s.source.contains(src)) return &s;
  return nullptr;
}

int NatRules::external_for(const SnatRule& rule, uint32_t src_be, uint16_t out_port) const {
  if (rule.masquerade) return out_port < port_external_.size() ? port_external_[out_port] : -1;
  // A hash of the inside address: the same host always maps to the same pool address, and
  // hosts spread evenly over the pool (murmur3's finalizer: neighbouring addresses, which is
  // what inside networks are made of, land far apart).
  const uint32_t h = mix(net::to_be(src_be));
  return external_index(be(rule.pool[h % rule.pool.size()]));
}

const DnatRule* NatRules::dnat_to(uint8_t protocol, uint32_t dst_be, uint16_t dport_be) const {
  for (const DnatRule& d : config_.dnat)
    if (d.protocol == protocol && be(d.external) == dst_be && net::to_be(d.external_port) == dport_be) return &d;
  return nullptr;
}

const DnatRule* NatRules::dnat_from(uint8_t protocol, uint32_t src_be, uint16_t sport_be) const {
  for (const DnatRule& d : config_.dnat)
    if (d.protocol == protocol && be(d.internal) == src_be && net::to_be(d.internal_port) == sport_be) return &d;
  return nullptr;
}

const PortRange& NatRules::range(uint8_t protocol) const {
  if (protocol == wire::ipv4::kProtoTcp) return config_.tcp_ports;
  if (protocol == wire::ipv4::kProtoUdp) return config_.udp_ports;
  return config_.icmp_ids;
}

}  // namespace redline::nat
