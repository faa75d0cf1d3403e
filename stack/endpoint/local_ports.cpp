#include "stack/endpoint/local_ports.hpp"

#include <algorithm>

namespace redline::endpoint {

const Claim* LocalPorts::held_by_other(uint32_t ip_be, uint8_t protocol, uint16_t port, Family family) const {
  for (const Claim& c : claims_) {
    if (c.family == family || c.protocol != protocol || port < c.low || port > c.high) continue;
    // A claim on the NAT's outside addresses holds on every address a listener or bind asks for.
    if (c.scope == Scope::kNatOutside && ip_be != 0 &&
        std::find(nat_outside_.begin(), nat_outside_.end(), ip_be) == nat_outside_.end())
      continue;
    return &c;
  }
  return nullptr;
}

PortShare* LocalPorts::find_share(uint32_t ip_be, uint8_t protocol, Family family) {
  for (Held& h : held_)
    if (h.ip_be == ip_be && h.protocol == protocol && h.family == family) return h.share.get();
  return nullptr;
}

PortShare& LocalPorts::share(uint32_t ip_be, uint8_t protocol, Family family, PortRange range) {
  if (PortShare* s = find_share(ip_be, protocol, family)) return *s;
  const bool blocks = family == Family::kNat;
  auto s = std::make_unique<PortShare>(range, blocks ? steering_.worker : 0, blocks ? steering_.workers : 1);
  uint32_t reserved = 0;
  for (uint32_t p = range.low; p <= range.high; ++p)
    if (s->contains(uint16_t(p)) && held_by_other(ip_be, protocol, uint16_t(p), family))
      reserved += s->take(uint16_t(p), PortShare::kReserved);
  held_.push_back({ip_be, protocol, family, reserved, std::move(s)});
  return *held_.back().share;
}

const LocalPorts::Held* LocalPorts::held_for(const PortShare& s) const {
  for (const Held& h : held_)
    if (h.share.get() == &s) return &h;
  return nullptr;
}

}  // namespace redline::endpoint
