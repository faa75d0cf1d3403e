// Log-linear latency histogram: 8 sub-buckets per power of two, so any percentile is within
// 1/8 (12.5 %) of the true value, in a fixed 512-counter array that costs nothing to update.
#pragma once

#include <array>
#include <cstdint>

namespace redline::gen {

class LatencyHistogram {
 public:
  void add(uint64_t ns) {
    ++buckets_[index(ns)];
    ++count_;
  }
  uint64_t count() const { return count_; }
  // The lower bound of the bucket that holds quantile q (0 < q <= 1), 0 if empty.
  uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = uint64_t(q * double(count_));
    if (rank >= count_) rank = count_ - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen > rank) return lower_bound(i);
    }
    return lower_bound(buckets_.size() - 1);
  }

  static size_t index(uint64_t v) {
    if (v < 8) return size_t(v);
    int msb = 63 - __builtin_clzll(v);
    return size_t(msb - 2) * 8 + size_t((v >> (msb - 3)) & 7);
  }
  static uint64_t lower_bound(size_t i) {
    if (i < 8) return i;
    size_t msb = i / 8 + 2;
    return (uint64_t(1) << msb) | (uint64_t(i % 8) << (msb - 3));
  }

 private:
  std::array<uint64_t, 512> buckets_{};
  uint64_t count_ = 0;
};

}  // namespace redline::gen
