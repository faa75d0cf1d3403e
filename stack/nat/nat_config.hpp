// What the [nat] section of the config says (dpdk_app/config.cpp parses it; examples/nat.toml
// documents every key). Pure data: the NAT's stages resolve port names and addresses from it
// once (nat_rules.hpp), and a reload swaps in a new one for new sessions only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stack/endpoint/port_share.hpp"
#include "stack/net/types.hpp"

namespace redline::nat {

using endpoint::PortRange;
using endpoint::PortShare;

// RFC 4787 §5: which inbound packets a mapping lets in.
enum class Filtering : uint8_t {
  kEndpointIndependent,  // any source (REQ-8 recommends it for transparency ...)
  kAddressDependent,     // ... only addresses the inside host sent to (the safer default here)
};

struct Timeouts {
  uint32_t udp_s = 300;              // RFC 4787 REQ-5: at least 2 min, 5 min recommended
  uint32_t tcp_established_s = 7440; // RFC 5382 REQ-5: at least 2 h 4 min
  uint32_t tcp_transitory_s = 240;   // RFC 5382 REQ-5: at least 4 min
  uint32_t icmp_s = 60;              // RFC 5508 REQ-1: at least 60 s
  bool rfc_minimums = true;          // false lets tests use shorter ones
  friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

// RFC 6888's limits per inside host ("subscriber"), and port-block allocation. With any of them
// on, each inside host is served by one worker, its home (nat_stage.hpp), so its counts are
// exact without state shared between cores.
struct HostLimits {
  uint32_t sessions = 0;    // REQ-4: sessions one inside host holds at once (0: no limit)
  uint32_t ports = 0;       // REQ-3: outside ports (ICMP: identifiers) it holds at once, over
                            //   every protocol and external address (0: no limit)
  uint16_t block_size = 0;  // ports given out in blocks of this many, logged once per block
                            //   (RFC 6888 §4 REQ-12's aim, as RFC 7422); 0: one port at a time
  bool on() const { return sessions || ports || block_size; }
  friend bool operator==(const HostLimits&, const HostLimits&) = default;
};

// Where the NAT's allocation log goes: one line per port block given and taken back (or per
// outside port, with blocks off). Written by the control thread from the workers' rings
// (nat_log.hpp), so a slow disk never stalls a worker.
struct NatLogConfig {
  std::string file;     // appended to
  bool syslog = false;  // facility daemon, priority info
  bool on() const { return syslog || !file.empty(); }
  friend bool operator==(const NatLogConfig&, const NatLogConfig&) = default;
};

struct SnatRule {
  net::Ipv4Prefix source;             // inside sources it applies to
  bool masquerade = true;             // the outside port's own address ...
  std::vector<net::Ipv4Addr> pool;    // ... or these (RFC 4787 REQ-2: paired per inside host)
  uint16_t mss_clamp = 0;             // 0 = off
  friend bool operator==(const SnatRule&, const SnatRule&) = default;
};

struct DnatRule {
  uint8_t protocol = 6;
  net::Ipv4Addr external;
  uint16_t external_port = 0;
  net::Ipv4Addr internal;
  uint16_t internal_port = 0;
  uint16_t mss_clamp = 0;
  friend bool operator==(const DnatRule&, const DnatRule&) = default;
};

struct NatConfig {
  bool enabled = false;  // a [nat] section was given
  std::vector<std::string> inside;   // port names
  std::vector<std::string> outside;
  Filtering filtering = Filtering::kAddressDependent;
  uint32_t max_sessions = 65536;  // per worker
  bool hairpinning = true;
  bool port_preservation = true;
  // Below TCP's ephemeral ports (61000-65535, settings.hpp): the default split of local ports
  // between the NAT and redline's own connections (endpoint/claims.hpp).
  PortRange tcp_ports{1024, 60999};
  PortRange udp_ports{1024, 60999};
  PortRange icmp_ids{1024, 65535};
  Timeouts timeouts;
  HostLimits limits;
  NatLogConfig log;
  std::vector<SnatRule> snat;
  std::vector<DnatRule> dnat;
  friend bool operator==(const NatConfig&, const NatConfig&) = default;
};

}  // namespace redline::nat
