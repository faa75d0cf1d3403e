// A NAT session and a mapping, as one worker keeps them.
//
// A session is one flow through the NAT: the tuple its initiator sends (key[0]) and the tuple
// the answers arrive with (key[1]), each with the rewrite a packet matching it gets; the
// worker's session engine finds it by either. A mapping is RFC 4787's endpoint-independent
// mapping: an inside address and port (or echo identifier) bound to an outside port on one
// external address, shared by every session of that inside endpoint through that address,
// whatever the remote (§4.1, REQ-1; RFC 5382 REQ-1; RFC 5508 REQ-2).
#pragma once

#include <cstddef>
#include <cstdint>

#include "stack/nat/rewrite.hpp"
#include "stack/nat/tcp_tracking.hpp"
#include "stack/session/session_entry.hpp"

namespace redline::nat {

constexpr uint32_t kNoIndex = 0xffffffffu;

// Session::stamp.flags
constexpr uint8_t kInitiatorInside = 1;  // key[0] comes from the inside (SNAT); else from outside
constexpr uint8_t kHairpin0 = 2;         // a packet matching key[0], once rewritten, is for the
constexpr uint8_t kHairpin1 = 4;         //   NAT again (RFC 4787 §6 hairpinning); likewise key[1]
constexpr uint8_t kMssClamp = 8;         // SYNs of this session have their MSS clamped

// An entry of the worker's session engine (session/session_table.hpp): the engine's stamp and
// header beside the NAT's data. Laid out so the fast path (nat_stage.cpp: rewrite, TCP flags
// check, idle time) reads and writes the first cache line only; the engine's header (the keys
// and the timer, used when the session is made and ends) sits in the second.
struct alignas(64) Session {
  Rewrite rewrite[2];           // what a packet matching key[d] becomes
  session::Stamp stamp;         // last packet's time, protocol, flags (above)
  TcpTracking tcp;
  uint16_t mss_clamp = 0;
  uint32_t mapping = kNoIndex;  // the mapping it belongs to; kNoIndex for a static (DNAT) one
  uint32_t next_in_mapping = kNoIndex;  // the mapping's sessions, doubly linked by index
  uint32_t prev_in_mapping = kNoIndex;
  session::Header header;       // key[0] as the initiator sends it, key[1] as the answers arrive

  const FiveTuple& key(unsigned d) const { return header.key[d]; }
  uint8_t protocol() const { return stamp.protocol; }
  uint8_t flags() const { return stamp.flags; }
  // The outside endpoint's address: the remote the inside host talks to.
  uint32_t remote_ip() const { return (flags() & kInitiatorInside) ? key(0).dst_ip : key(0).src_ip; }
};
static_assert(sizeof(Session) == 128, "a session entry is two cache lines, both directions' keys included");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"  // the timer makes Session non-standard-layout; GCC lays it out plainly
static_assert(offsetof(Session, prev_in_mapping) + sizeof(uint32_t) <= 64, "the fast path's fields share the first line");
#pragma GCC diagnostic pop

struct Mapping {
  FiveTuple key;            // the table key: protocol, inside address and port, external address (dst_ip)
  uint32_t external_ip = 0; // network byte order
  uint16_t external_port = 0;
  uint32_t first_session = kNoIndex;
  uint32_t sessions = 0;
  uint32_t next_free = kNoIndex;
  uint32_t host = kNoIndex;   // its inside host's limits entry (with [nat.limits]; nat_hosts.cpp)
  uint32_t block = kNoIndex;  // the port block its port is from (port blocks on)
};

}  // namespace redline::nat
