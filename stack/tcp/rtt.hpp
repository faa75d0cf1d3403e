// The retransmission timeout (RFC 6298): SRTT and RTTVAR from round-trip samples, RTO =
// SRTT + max(G, 4 RTTVAR) clamped to [min, max], doubled per expiry (exponential backoff,
// §5.5) and back to the computed value on the next valid sample. All in microseconds.
#pragma once

#include <algorithm>
#include <cstdint>

namespace redline::tcp {

class RttEstimator {
 public:
  RttEstimator(uint32_t min_rto_us, uint32_t max_rto_us, uint32_t initial_rto_us, uint32_t granularity_us)
      : min_(min_rto_us), max_(max_rto_us), g_(granularity_us), rto_(std::clamp(initial_rto_us, min_rto_us, max_rto_us)) {}

  // §2.2 first sample, §2.3 later ones (alpha 1/8, beta 1/4), §2.4 the floor, §2.5 the ceiling.
  void sample(uint32_t rtt_us) {
    if (srtt_ == 0) {
      srtt_ = std::max<uint32_t>(rtt_us, 1);
      rttvar_ = rtt_us / 2;
    } else {
      const uint32_t diff = srtt_ > rtt_us ? srtt_ - rtt_us : rtt_us - srtt_;
      rttvar_ = (3 * uint64_t(rttvar_) + diff) / 4;
      srtt_ = uint32_t((7 * uint64_t(srtt_) + rtt_us) / 8);
      srtt_ = std::max<uint32_t>(srtt_, 1);
    }
    backoff_ = 0;
    rto_ = uint32_t(std::clamp<uint64_t>(uint64_t(srtt_) + std::max<uint64_t>(g_, 4 * uint64_t(rttvar_)), min_, max_));
  }
  // §5.5: the timer expired; the next RTO is twice this one (up to the ceiling).
  void backoff() {
    ++backoff_;
    rto_ = uint32_t(std::min<uint64_t>(uint64_t(rto_) * 2, max_));
  }
  uint32_t rto_us() const { return rto_; }
  uint32_t srtt_us() const { return srtt_; }
  uint32_t rttvar_us() const { return rttvar_; }
  uint32_t backoffs() const { return backoff_; }
  bool has_sample() const { return srtt_ != 0; }

 private:
  uint32_t min_, max_, g_;
  uint32_t rto_;
  uint32_t srtt_ = 0, rttvar_ = 0;
  uint32_t backoff_ = 0;
};

}  // namespace redline::tcp
