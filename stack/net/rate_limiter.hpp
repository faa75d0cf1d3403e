// Token bucket for what a worker sends in answer to packets it did not ask for: ICMP errors
// (RFC 1812 §4.3.2.8 asks routers to limit them), TCP challenge ACKs (RFC 5961 §7) and resets
// to closed ports (so a flood is not reflected at line rate), ARP probes, the kernel path. One
// per worker and purpose, so no shared state; time is injected.
//
// Overflow: the refill multiplies elapsed time by the rate. After a long idle gap (about 5.1
// hours at 1'000'000/s, sooner from a clock near 2^63) that product wraps past 2^64 and the
// bucket can stay empty. Rather than widen to 128-bit arithmetic, the refill first asks whether
// the gap earns more than `burst` tokens even from empty (`overflow_ns_`, fixed at
// construction); then the bucket is simply full, exactly as the multiplication would have said.
// Otherwise elapsed < overflow_ns_, so elapsed * rate < (burst + 1) * 1e9 + rate, which fits in
// 64 bits for any 32-bit rate and burst (< 2^33 * 1e9 < 2^64).
#pragma once

#include <cstdint>

namespace redline::net {

class RateLimiter {
 public:
  static constexpr uint64_t kNsPerSecond = 1'000'000'000;

  // `per_second` tokens are added per second up to `burst`; 0 per second disables errors.
  // The bucket starts full, with its clock at 0.
  RateLimiter(uint32_t per_second, uint32_t burst)
      : rate_(per_second),
        burst_(burst),
        tokens_(burst),
        // Time to earn burst + 1 tokens, rounded up: any longer gap overfills even an empty
        // bucket. Unused when the rate is 0.
        overflow_ns_(per_second == 0 ? 0 : ((uint64_t(burst) + 1) * kNsPerSecond + per_second - 1) / per_second) {}

  bool allow(uint64_t now_ns) {
    if (rate_ == 0) return false;  // errors disabled
    refill(now_ns);
    if (tokens_ == 0) return false;
    --tokens_;
    return true;
  }

 private:
  void refill(uint64_t now_ns) {
    if (now_ns <= last_ns_) return;
    uint64_t elapsed = now_ns - last_ns_;
    if (elapsed >= overflow_ns_) {  // overfills even an empty bucket: no need to multiply
      tokens_ = burst_;
      last_ns_ = now_ns;  // full: time beyond this earns nothing
      return;
    }
    uint64_t add = elapsed * rate_ / kNsPerSecond;  // elapsed < overflow_ns_: no overflow (above)
    if (add == 0) return;  // keep last_ns_ so fractions accumulate
    if (uint64_t(tokens_) + add > burst_) {  // add <= burst_ + 1: no wrap
      tokens_ = burst_;
      last_ns_ = now_ns;
    } else {
      tokens_ += uint32_t(add);
      last_ns_ += add * kNsPerSecond / rate_;  // keep the part of a token already earned
    }
  }

  uint32_t rate_;
  uint32_t burst_;
  uint32_t tokens_;
  uint64_t overflow_ns_;
  uint64_t last_ns_ = 0;
};

}  // namespace redline::net
