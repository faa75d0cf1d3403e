// The NAT's rules resolved against the ports: which port indices are inside and outside, the
// external addresses (each outside port's own, then the SNAT pools'), and the lookups the
// NAT's cold path asks on every new session. Built by the control thread (at start and on
// reload) and then read-only: workers hold a pointer to one NatRules at a time (nat_shared.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stack/nat/nat_config.hpp"
#include "stack/net/types.hpp"

namespace redline::nat {

struct PortAddress {
  std::string name;
  net::Ipv4Prefix address;
};

class NatRules {
 public:
  // Resolves `c` against the ports (index = port index). nullopt with `error` set when a name
  // or address does not fit (the config parser reports these with file and line first; this is
  // the backstop for callers that build a NatConfig by hand).
  static std::optional<NatRules> resolve(const NatConfig& c, const std::vector<PortAddress>& ports, std::string* error);

  const NatConfig& config() const { return config_; }
  bool inside(uint16_t port) const { return port < 64 && (inside_ >> port & 1); }
  bool outside(uint16_t port) const { return port < 64 && (outside_ >> port & 1); }
  // The external addresses, network byte order; their index names a port space.
  const std::vector<uint32_t>& externals() const { return externals_; }
  // Its index, or -1. Several times per new session and per packet to or from a pool address, so
  // a hash probe (open addressing, never more than half full) rather than a scan of the pool.
  int external_index(uint32_t ip_be) const {
    const uint32_t mask = uint32_t(index_.size() - 1);
    for (uint32_t i = slot_of(ip_be, mask);; i = (i + 1) & mask)
      if (index_[i].index < 0 || index_[i].ip == ip_be) return index_[i].index;
  }
  // The first SNAT rule whose source prefix holds `src_be`, or null.
  const SnatRule* snat_for(uint32_t src_be) const;
  // The external address index an inside host `src_be` leaving by `out_port` is translated to
  // under `rule`: the port's own address (masquerade), or a pool address picked by a hash of
  // the inside address, so one host always gets the same one (RFC 4787 REQ-2, "paired").
  int external_for(const SnatRule& rule, uint32_t src_be, uint16_t out_port) const;
  // The DNAT rule for packets to external `dst_be`:`dport_be`, or from internal
  // `src_be`:`sport_be` (its replies), or null.
  const DnatRule* dnat_to(uint8_t protocol, uint32_t dst_be, uint16_t dport_be) const;
  const DnatRule* dnat_from(uint8_t protocol, uint32_t src_be, uint16_t sport_be) const;
  // The outside port range (ICMP: echo identifiers) of a protocol.
  const PortRange& range(uint8_t protocol) const;

  // murmur3's finalizer: every input bit reaches every output bit (an address's last octet, its
  // high byte in network order, too).
  static uint32_t mix(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
  }

 private:
  NatConfig config_;
  uint64_t inside_ = 0, outside_ = 0;
  std::vector<uint32_t> externals_;
  std::vector<int> port_external_;  // port index -> its external index (outside ports), else -1
  struct IndexEntry {
    uint32_t ip;
    int32_t index;  // -1: empty
  };
  std::vector<IndexEntry> index_ = std::vector<IndexEntry>(16, IndexEntry{0, -1});  // external_index's table
  // Mixed: a pool's addresses differ in their last octet, the high byte of `ip_be`, which a
  // plain multiply would leave out of the low bits the mask keeps.
  static uint32_t slot_of(uint32_t ip_be, uint32_t mask) { return mix(ip_be) & mask; }
  // Appends `ip_be` to the external addresses and the index (which doubles when half full).
  void add_external(uint32_t ip_be);
  void place(uint32_t ip_be, int32_t index);
};

}  // namespace redline::nat
