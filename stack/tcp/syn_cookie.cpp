#include "stack/tcp/syn_cookie.hpp"

#include <algorithm>
#include <cstring>

#include "stack/tcp/isn.hpp"

namespace redline::tcp {

namespace {
constexpr uint32_t kMacBits = 24;
constexpr uint32_t kMacMask = (1u << kMacBits) - 1;
constexpr uint32_t kIndexBits = 3;
constexpr uint32_t kPeriodBits = 5;
static_assert(kMacBits + kIndexBits + kPeriodBits == 32);
static_assert(kCookieMss.size() == 1u << kIndexBits);
static_assert(kCookieMaxAge < (1u << kPeriodBits) / 2, "a period's 5 bits must name it unambiguously");
constexpr uint8_t kNoShift = 15;
constexpr uint32_t kSackBit = 1u << 4;
}  // namespace

uint32_t SynCookies::mac(Endpoint local, Endpoint remote, uint32_t peer_isn, uint64_t period,
                         uint32_t mss_index) const {
  // 4 + 4 + 2 + 2 + 4 + 8 + 1 = 25 bytes: unlike the ISN's 12 and the TS offset's 9, so no
  // input here hashes like one of theirs under the same key.
  uint8_t in[25];
  std::memcpy(in, &local.ip, 4);
  std::memcpy(in + 4, &remote.ip, 4);
  std::memcpy(in + 8, &local.port, 2);
  std::memcpy(in + 10, &remote.port, 2);
  std::memcpy(in + 12, &peer_isn, 4);
  std::memcpy(in + 16, &period, 8);
  in[24] = uint8_t(mss_index);
  return uint32_t(siphash24(key_, in, sizeof in)) & kMacMask;
}

uint32_t SynCookies::make(Endpoint local, Endpoint remote, uint32_t peer_isn, uint16_t peer_mss, uint64_t period,
                          uint16_t* mss_used) const {
  // The largest entry the peer can take; a peer below the table's first gets its first (536 is
  // RFC 9293's default, which every host must accept).
  uint32_t index = 0;
  for (uint32_t i = 0; i < kCookieMss.size(); ++i)
    if (kCookieMss[i] <= peer_mss) index = i;
  *mss_used = kCookieMss[index];
  return uint32_t(period % (1u << kPeriodBits)) << (kMacBits + kIndexBits) | index << kMacBits |
         mac(local, remote, peer_isn, period, index);
}

std::optional<uint16_t> SynCookies::check(Endpoint local, Endpoint remote, uint32_t peer_isn, uint32_t cookie,
                                          uint64_t period) const {
  // The period the cookie names is the latest one at or before `period` with its low 5 bits.
  const uint32_t low = cookie >> (kMacBits + kIndexBits);
  const uint32_t age = uint32_t(period - low) % (1u << kPeriodBits);
  if (age > kCookieMaxAge || age > period) return std::nullopt;
  const uint32_t index = (cookie >> kMacBits) & ((1u << kIndexBits) - 1);
  if (mac(local, remote, peer_isn, period - age, index) != (cookie & kMacMask)) return std::nullopt;
  return kCookieMss[index];
}

uint32_t SynCookies::encode_ts(uint32_t tsval, std::optional<uint8_t> window_shift, bool sack) {
  const uint32_t shift = window_shift ? std::min<uint8_t>(*window_shift, wire::tcp::kMaxWindowShift) : kNoShift;
  const uint32_t opts = shift | (sack ? kSackBit : 0);
  uint32_t ts = (tsval & ~kTsMask) | opts;
  if (ts > tsval) ts -= kTsMask + 1;  // wraps with the clock, as TSval does
  return ts;
}

void SynCookies::decode_ts(uint32_t tsecr, CookieOptions* o) {
  const uint8_t shift = uint8_t(tsecr & 0xf);
  o->window_shift = shift == kNoShift ? std::nullopt : std::optional<uint8_t>(shift);
  o->sack_permitted = (tsecr & kSackBit) != 0;
}

}  // namespace redline::tcp
