// A NAT session as an operator reads it (`redlinectl show nat sessions`, `nat flush`): its
// three endpoints, whichever side began it, and the filters conntrack users expect.
//
// A session's keys are tuples as packets carry them (session.hpp); an operator thinks in
// endpoints: the inside host, the remote host on the outside, and the NAT's own address and port
// that stands for the inside host there. An SNAT session (begun inside) and a DNAT session (begun
// outside, a port forward) hold them in different places; these functions find them.
//
// Pure: unit-tested without DPDK.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "stack/nat/session.hpp"
#include "stack/net/types.hpp"

namespace redline::nat {

// An address and a port (an ICMP echo's identifier), network byte order as in FiveTuple.
struct EndpointBe {
  uint32_t ip = 0;
  uint16_t port = 0;
  friend bool operator==(const EndpointBe&, const EndpointBe&) = default;
};

struct SessionEnds {
  EndpointBe inside;    // the host behind the NAT
  EndpointBe remote;    // the host on the outside it talks with
  EndpointBe external;  // the NAT's address and port standing for `inside` on the outside
};

inline SessionEnds ends_of(const Session& s) {
  const FiveTuple& k0 = s.key(0);
  const FiveTuple& k1 = s.key(1);
  if (s.flags() & kInitiatorInside)  // k0: inside -> remote; k1 (the answers): remote -> external
    return {{k0.src_ip, k0.src_port}, {k0.dst_ip, k0.dst_port}, {k1.dst_ip, k1.dst_port}};
  // DNAT. k0: remote -> external; k1 (the inside host's answers): inside -> remote
  return {{k1.src_ip, k1.src_port}, {k0.src_ip, k0.src_port}, {k0.dst_ip, k0.dst_port}};
}

// One endpoint to match: an address, and a port unless any port matches.
struct EndpointMatch {
  EndpointBe at;
  bool any_port = true;
  bool matches(const EndpointBe& e) const { return e.ip == at.ip && (any_port || e.port == at.port); }
};

// What `show nat sessions` and `nat flush` select; every field set must match.
struct SessionFilter {
  std::optional<EndpointMatch> inside, remote, external;
  uint8_t protocol = 0;  // 0: any

  bool matches(const Session& s) const {
    if (protocol && s.protocol() != protocol) return false;
    if (!inside && !remote && !external) return true;
    const SessionEnds e = ends_of(s);
    return (!inside || inside->matches(e.inside)) && (!remote || remote->matches(e.remote)) &&
           (!external || external->matches(e.external));
  }
};

// "10.0.1.5" or "10.0.1.5:4000" to an EndpointMatch; nullopt (and `error` says why) if neither.
std::optional<EndpointMatch> parse_endpoint_match(const std::string& text, std::string* error);
// "tcp", "udp", "icmp" or a number 1-255 to a protocol number; 0 (and `error`) if none of them.
uint8_t parse_protocol(const std::string& text, std::string* error);
// "tcp", "udp", "icmp" or the number.
std::string protocol_name(uint8_t protocol);
// "ESTABLISHED" and the like, for a TCP session's tracked state.
const char* tcp_state_name(TcpState s);

}  // namespace redline::nat
