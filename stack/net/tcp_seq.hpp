// TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4). A plain uint32_t
// compared with `<` is wrong the moment a transfer crosses 2^32; this type only offers the
// wraparound-safe comparisons, so the mistake cannot be written.
#pragma once

#include <cstdint>

namespace redline::net {

class TcpSeq {
 public:
  constexpr TcpSeq() = default;
  constexpr explicit TcpSeq(uint32_t v) : v_(v) {}
  constexpr uint32_t value() const { return v_; }

  constexpr TcpSeq operator+(uint32_t n) const { return TcpSeq(v_ + n); }
  constexpr TcpSeq operator-(uint32_t n) const { return TcpSeq(v_ - n); }
  constexpr TcpSeq& operator+=(uint32_t n) {
    v_ += n;
    return *this;
  }
  // Distance from `o` to this, as a signed count: positive when this is after `o`.
  constexpr int32_t operator-(TcpSeq o) const { return int32_t(v_ - o.v_); }

  friend constexpr bool operator==(TcpSeq a, TcpSeq b) = default;
  // RFC 9293 §3.4: a < b iff (a - b) mod 2^32 is "negative". Valid while the two are less than
  // 2^31 apart, which the window (at most 2^30 with scaling, RFC 7323 §2.3) guarantees.
  friend constexpr bool operator<(TcpSeq a, TcpSeq b) { return int32_t(a.v_ - b.v_) < 0; }
  friend constexpr bool operator<=(TcpSeq a, TcpSeq b) { return int32_t(a.v_ - b.v_) <= 0; }
  friend constexpr bool operator>(TcpSeq a, TcpSeq b) { return int32_t(a.v_ - b.v_) > 0; }
  friend constexpr bool operator>=(TcpSeq a, TcpSeq b) { return int32_t(a.v_ - b.v_) >= 0; }

 private:
  uint32_t v_ = 0;
};

constexpr TcpSeq seq_max(TcpSeq a, TcpSeq b) { return a < b ? b : a; }
constexpr TcpSeq seq_min(TcpSeq a, TcpSeq b) { return a < b ? a : b; }
// True when lo <= s < hi in sequence space.
constexpr bool seq_in(TcpSeq s, TcpSeq lo, TcpSeq hi) { return lo <= s && s < hi; }

}  // namespace redline::net
