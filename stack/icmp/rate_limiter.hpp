// Token bucket for ICMP errors (RFC 1812 §4.3.2.8 asks routers to limit the rate of ICMP
// errors they originate). One per worker, so no shared state; time is injected.
#pragma once

#include <algorithm>
#include <cstdint>

namespace redline::icmp {

class RateLimiter {
 public:
  // `per_second` tokens are added per second up to `burst`; 0 per second disables errors.
  // The bucket starts full, with its clock at 0.
  RateLimiter(uint32_t per_second, uint32_t burst) : rate_(per_second), burst_(burst), tokens_(burst) {}

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
    uint64_t add = rate_ == 0 ? 0 : elapsed * rate_ / 1'000'000'000u;
    if (add == 0) return;  // keep last_ns_ so fractions accumulate
    if (tokens_ + add > burst_) {
      tokens_ = burst_;
      last_ns_ = now_ns;  // full: time beyond this earns nothing
    } else {
      tokens_ += uint32_t(add);
      last_ns_ += add * 1'000'000'000u / rate_;  // keep the part of a token already earned
    }
  }

  uint32_t rate_;
  uint32_t burst_;
  uint32_t tokens_;
  uint64_t last_ns_ = 0;
};

}  // namespace redline::icmp
