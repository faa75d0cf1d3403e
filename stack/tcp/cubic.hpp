// CUBIC congestion control (RFC 9438), the optional alternative to NewReno's linear growth
// ([tcp] congestion = "cubic"): after a loss the window is cut to β = 0.7 of itself and grows
// back along a cubic curve in time, flat near the window where the loss happened (W_max) and
// steep away from it, so a long fat path is refilled in a time that does not depend on its RTT.
// The Reno-friendly estimate (§4.3) keeps it at least as fast as Reno where Reno would win.
//
// Pure: windows in bytes, time in microseconds given by the caller. Floating point per ACK in
// congestion avoidance is a few ns; slow start and recovery do not call it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace redline::tcp {

class Cubic {
 public:
  static constexpr double kC = 0.4;     // RFC 9438 §5: the scaling constant, in segments/s^3
  static constexpr double kBeta = 0.7;  // §4.6: multiplicative decrease

  // §4.6, §4.7: a loss at window `cwnd`: the new ssthresh (at least two segments). Fast
  // convergence lowers W_max when the loss came before the previous W_max was reached.
  uint32_t on_loss(uint32_t cwnd, uint32_t mss) {
    const double w = double(cwnd) / mss;
    w_max_ = (w < w_max_) ? w * (1 + kBeta) / 2 : w;
    epoch_started_ = false;
    return std::max<uint32_t>(uint32_t(w * kBeta * mss), 2 * mss);
  }
  // §4.8: after a timeout the curve starts afresh from where slow start leaves it.
  void on_timeout() { epoch_started_ = false; }

  // Congestion avoidance: `acked` bytes were acknowledged at time `now_us`; `rtt_us` the
  // smoothed RTT. Returns the new cwnd.
  uint32_t on_ack(uint32_t cwnd, uint32_t mss, uint32_t acked, uint64_t now_us, uint32_t rtt_us) {
    const double w = double(cwnd) / mss;
    if (!epoch_started_) {
      // §4.2: a new epoch. K is when the curve regains W_max (0 if we are already above it).
      epoch_started_ = true;
      epoch_us_ = now_us;
      if (w_max_ <= w) {
        k_ = 0;
        origin_ = w;
      } else {
        k_ = std::cbrt((w_max_ - w) / kC);
        origin_ = w_max_;
      }
      w_est_ = w;
    }
    // §4.2 eq. 1, evaluated one RTT ahead (the target the window should reach by then).
    const double t = double(now_us - epoch_us_ + rtt_us) / 1e6;
    const double target = origin_ + kC * (t - k_) * (t - k_) * (t - k_);
    // §4.3: the Reno-friendly window, α = 3(1-β)/(1+β) segments per window of ACKs.
    const double segs_acked = double(acked) / mss;
    w_est_ += 3 * (1 - kBeta) / (1 + kBeta) * segs_acked / w;
    double next = w;
    if (target > w) next = w + (std::min(target, 1.5 * w) - w) * segs_acked / w;  // §4.4-4.5, capped
    next = std::max(next, w_est_);
    return std::max<uint32_t>(uint32_t(next * mss), cwnd);
  }

  double w_max() const { return w_max_; }
  double k() const { return k_; }

 private:
  bool epoch_started_ = false;
  uint64_t epoch_us_ = 0;
  double w_max_ = 0, k_ = 0, origin_ = 0, w_est_ = 0;
};

}  // namespace redline::tcp
