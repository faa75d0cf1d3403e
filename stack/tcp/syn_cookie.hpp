// SYN cookies (RFC 4987 §3.6): when a listener's half-open queue is full, its SYN-ACK carries
// the state the connection would have kept, in its initial sequence number, and nothing is
// kept. The ACK that completes the handshake gives the cookie back (SEG.ACK - 1) and the
// connection is made from it then. A flood of spoofed SYNs thus costs no memory and cannot lock
// a listener out of its legitimate clients.
//
// The problem: 32 bits must carry a MAC over the 4-tuple strong enough that a blind attacker
// cannot forge an ACK, a time so old cookies expire, and the options the SYN negotiated.
// Alternatives: Linux's sum of two hashes (time recovered by subtraction; checks cost two
// hashes), or Bernstein's layout that RFC 4987 describes (time and MSS in the top bits, a MAC
// below). Chosen: Bernstein's, so making and checking a cookie cost one SipHash each:
//
//   bits 31-27  t mod 32, t counting 64-second periods (a cookie lives 2-3 periods, as Linux's)
//   bits 26-24  the MSS index into kCookieMss (the largest entry not above the peer's MSS)
//   bits 23-0   SipHash-2-4(secret; local, remote, t, the peer's ISN, MSS index), low 24 bits
//
// Including the peer's ISN binds the cookie to the SYN (the ACK's SEG.SEQ - 1), as Linux does.
// The other options ride in the timestamp, as Linux's cookie_init_timestamp does: our SYN-ACK's
// TSval has its low 6 bits replaced by the window shift (4 bits, 15 = none) and SACK-permitted
// (bit 4), and the ACK echoes it in TSecr. Without timestamps only the MSS survives (no window
// scaling, no SACK), as on Linux. Pure: the caller supplies the key and the clock.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "stack/tcp/connection.hpp"

namespace redline::tcp {

// Linux's table (msstab in net/ipv4/syncookies.c): the common path MSS values.
inline constexpr std::array<uint16_t, 8> kCookieMss = {536, 1200, 1300, 1360, 1400, 1440, 1452, 1460};
// A cookie is accepted up to this many 64-second periods after the one it was made in.
inline constexpr uint32_t kCookieMaxAge = 2;
inline constexpr uint32_t kCookiePeriodS = 64;

// The options a cookie's SYN-ACK carried in its timestamp, as the completing ACK echoes them
// (the MSS is in the cookie itself: SynCookies::check).
struct CookieOptions {
  std::optional<uint8_t> window_shift;  // the peer's (RFC 7323 §2.3), when it offered one
  bool sack_permitted = false;
};

class SynCookies {
 public:
  SynCookies(uint64_t k0, uint64_t k1) : key_{k0, k1} {}
  // The cookie for a SYN from `remote` to `local` with sequence number `peer_isn` and MSS
  // option `peer_mss` (absent: 536), made in period `period` (seconds / kCookiePeriodS).
  // *mss_used is the MSS the cookie carries (the table's entry).
  uint32_t make(Endpoint local, Endpoint remote, uint32_t peer_isn, uint16_t peer_mss, uint64_t period,
                uint16_t* mss_used) const;
  // The MSS a returned cookie carries, if it is ours, for this tuple and ISN, and young enough.
  std::optional<uint16_t> check(Endpoint local, Endpoint remote, uint32_t peer_isn, uint32_t cookie,
                                uint64_t period) const;

  // The low bits of a SYN-ACK's TSval that carry the options (RFC 7323 §5.4 lets a host choose
  // its clock; these bits make it coarser by 64 ms, which no RTT estimate here relies on).
  static constexpr uint32_t kTsBits = 6;
  static constexpr uint32_t kTsMask = (1u << kTsBits) - 1;
  // `tsval` with its low bits replaced by `window_shift` and `sack`, never above `tsval` (a
  // TSval from the future would make the peer's PAWS reject our next segments).
  static uint32_t encode_ts(uint32_t tsval, std::optional<uint8_t> window_shift, bool sack);
  static void decode_ts(uint32_t tsecr, CookieOptions* o);

 private:
  uint32_t mac(Endpoint local, Endpoint remote, uint32_t peer_isn, uint64_t period, uint32_t mss_index) const;
  uint64_t key_[2];
};

}  // namespace redline::tcp
