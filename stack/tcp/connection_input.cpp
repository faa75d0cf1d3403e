// Segment arrival (RFC 9293 §3.10.7): acceptability, PAWS, RST and SYN checks, ACK processing
// with congestion control and loss detection, payload into the receive or out-of-order queue,
// FIN.
#include <algorithm>

#include "stack/tcp/connection.hpp"
#include "stack/tcp/host.hpp"

namespace redline::tcp {

using net::Counter;
using wire::tcp::Header;
using wire::tcp::Options;
namespace f = wire::tcp;

namespace {
// RFC 7323 §5.5: TS.Recent older than 24 days is stale (the peer's clock may have wrapped).
constexpr uint64_t kPawsIdleMs = 24ull * 24 * 3600 * 1000;
}  // namespace

void Connection::negotiate(const Options& opt, uint16_t our_mss) {
  const Settings& s = host_.settings();
  // RFC 9293 §3.7.1: without the option the peer takes 536; send no more than either side's.
  // A hostile or broken peer's MSS is bounded as Linux bounds it: 0 means the option said
  // nothing (tcp_parse_options ignores it), and no value takes the send MSS below
  // kMinSendMss (net.ipv4.tcp_min_snd_mss), so a segment always carries payload and the
  // per-segment arithmetic (mss_ - option overhead, flight / mss_) stays well defined.
  const uint16_t peer = opt.mss && *opt.mss ? *opt.mss : kDefaultMss;
  mss_ = std::max<uint16_t>(kMinSendMss, std::min(our_mss, peer));
  ws_ok_ = s.window_scaling && opt.window_shift.has_value();
  if (ws_ok_) {
    snd_shift_ = *opt.window_shift;
  } else {
    snd_shift_ = rcv_shift_ = 0;  // RFC 7323 §2.2: both sides or neither
  }
  sack_ok_ = s.sack && opt.sack_permitted;
  ts_ok_ = s.timestamps && opt.has_timestamps;
  if (ts_ok_) {
    ts_recent_ = opt.ts_val;
    ts_recent_tick_ = host_.now();
    // Every segment carries the 12 bytes of the option (RFC 7323 §3.2); kMinSendMss > 12 keeps
    // the payload positive (Linux's floor also applies before the option overhead).
    static_assert(kMinSendMss > f::kTimestampsOptionLen);
    mss_ = uint16_t(mss_ - f::kTimestampsOptionLen);
  }
  // RFC 6928: initial window min(10 MSS, max(2 MSS, 14600)).
  cwnd_ = std::min<uint32_t>(10u * mss_, std::max<uint32_t>(2u * mss_, 14600));
}

bool Connection::allow_invalid_ack() {
  // Linux's tcp_oow_rate_limited: a peer (or an attacker in its name) sending segments outside
  // the window draws at most one ACK per interval, so two hosts disagreeing about the window
  // cannot ACK each other in a loop and a flood is not answered segment for segment.
  if (host_.now() < next_invalid_ack_) {
    host_.count(Counter::tcp_invalid_acks_limited);
    return false;
  }
  next_invalid_ack_ = host_.now() + host_.ms_to_ticks(host_.settings().invalid_ack_interval_ms);
  return true;
}

bool Connection::acceptable(TcpSeq seq, uint32_t seg_len) const {
  // RFC 9293 §3.10.7.4, first check: the four cases of segment and window length. A segment at
  // exactly RCV.NXT is always let through so that its ACK is processed even with a zero window
  // (its payload is then trimmed away). A bare ACK at the window's right edge is let through
  // too, as Linux does (tcp_sequence): a peer that filled our window sends its ACKs at SND.NXT,
  // which is that edge, and the RFC's strict bound would drop every one of them unread while
  // its data waits for our window to move (found by a 32 MiB echo through 10 % loss: both
  // sides ended in retransmission backoff, each holding what the other resent).
  const uint32_t wnd = rcv_adv_ > rcv_nxt_ ? uint32_t(rcv_adv_ - rcv_nxt_) : 0;
  if (seq == rcv_nxt_) return true;
  if (wnd == 0) return false;
  const TcpSeq end = rcv_nxt_ + wnd;
  if (seg_len == 0) return net::seq_in(seq, rcv_nxt_, end) || seq == end;
  return net::seq_in(seq, rcv_nxt_, end) || net::seq_in(seq + (seg_len - 1), rcv_nxt_, end);
}

bool Connection::input(const Header& h, const Options& opt, const Chunk& payload) {
  ++stats_.segs_in;
  last_heard_ = host_.now();
  if (state_ == State::kSynSent) {
    input_syn_sent(h, opt);
    return false;
  }
  if (state_ == State::kClosed) return false;
  const TcpSeq seq(h.seq);
  const uint32_t seg_len = payload.len + ((h.flags & f::kSyn) ? 1 : 0) + ((h.flags & f::kFin) ? 1 : 0);
  // In SYN-RECEIVED a retransmitted SYN means our SYN-ACK was lost: send it again (RFC 9293
  // §3.8.1, the SYN is retransmitted until acknowledged). Checked before acceptability, which
  // the SYN (at RCV.NXT - 1) fails: that check would answer with a bare ACK the peer in SYN-SENT
  // can do nothing with.
  if (state_ == State::kSynReceived && (h.flags & (f::kSyn | f::kAck_ | f::kRst)) == f::kSyn && seq + 1 == rcv_nxt_) {
    send_syn();
    return false;
  }

  // RFC 7323 §5.3 R1: PAWS, before the sequence check. An RST is exempt (§5.3, last paragraph).
  if (ts_ok_ && opt.has_timestamps && !(h.flags & f::kRst) && int32_t(opt.ts_val - ts_recent_) < 0 &&
      host_.ticks_to_us(host_.now() - ts_recent_tick_) / 1000 < kPawsIdleMs) {
    host_.count(Counter::tcp_paws_rejected);
    if (allow_invalid_ack()) {
      ack_now_ = true;
      output();
    }
    return false;
  }
  if (!acceptable(seq, seg_len)) {
    if (!(h.flags & f::kRst)) {
      host_.count(Counter::tcp_out_of_window);
      // In TIME-WAIT this is the peer's FIN again: ACK it and restart the 2 MSL wait (§3.10.7.4).
      if (state_ == State::kTimeWait && (h.flags & f::kFin))
        arm(TimerMode::kTimeWait, host_.ms_to_ticks(host_.settings().time_wait_ms));
      if (allow_invalid_ack()) {
        ack_now_ = true;
        output();
      }
    }
    return false;
  }
  // Second: RST. RFC 5961 §3.2: only an exact match resets; elsewhere in the window it gets a
  // challenge ACK (a blind attacker must then guess RCV.NXT exactly).
  if (h.flags & f::kRst) {
    if (seq != rcv_nxt_) {
      if (host_.allow_challenge_ack()) {
        host_.count(Counter::tcp_challenge_acks);
        ack_now_ = true;
        output();
      }
      return false;
    }
    host_.count(Counter::tcp_rst_received);
    // RFC 1337: a RST in TIME-WAIT is ignored (no assassination of the 2 MSL wait).
    if (state_ == State::kTimeWait) return false;
    if (state_ != State::kSynReceived || handler_) host_.count(Counter::tcp_reset);
    finish(Error::kReset);
    return false;
  }
  // Fourth: SYN in a synchronized state. RFC 5961 §4.2: a challenge ACK, never a reset.
  if (h.flags & f::kSyn) {
    if (host_.allow_challenge_ack()) {
      host_.count(Counter::tcp_challenge_acks);
      ack_now_ = true;
      output();
    }
    return false;
  }
  // Fifth: without ACK the segment is dropped.
  if (!(h.flags & f::kAck_)) return false;

  // RFC 7323 §4.3: remember the timestamp to echo, from the segment at the left window edge.
  if (ts_ok_ && opt.has_timestamps && seq <= last_ack_sent_ && int32_t(opt.ts_val - ts_recent_) >= 0) {
    ts_recent_ = opt.ts_val;
    ts_recent_tick_ = host_.now();
  }

  if (state_ == State::kSynReceived) {
    const TcpSeq ack(h.ack);
    if (!(snd_una_ < ack && ack <= snd_max_)) {
      // §3.10.7.4 fifth, SYN-RECEIVED: an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>.
      send_rst_at(h.ack);
      return false;
    }
    // The handshake is complete. RFC 7323 §2.2: the SYN's window was unscaled; from here on the
    // peer's windows are scaled.
    state_ = fin_queued_ ? State::kFinWait1 : State::kEstablished;
    snd_wnd_ = uint32_t(h.window) << snd_shift_;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = seq;
    snd_wl2_ = ack;
    Listener* l = listener_;
    if (l) {
      --l->half_open_;
      listener_ = nullptr;
      host_.count(Counter::tcp_accepted);
      Handler* handler = l->on_accept(*this);
      if (!handler) {
        abort();
        return false;
      }
      handler_ = handler;
    }
    if (handler_) handler_->on_connected(*this);
    if (state_ == State::kClosed) return false;
  }

  if (!process_ack(h, opt, payload.len)) {
    if (ack_now_) output();
    return false;
  }
  if (state_ == State::kClosed || state_ == State::kTimeWait) {
    if (state_ == State::kTimeWait && ack_now_) output();
    return false;
  }

  // Seventh: the segment's text, in the states that still receive.
  bool kept = false;
  bool new_data = false;
  if (payload.len && (state_ == State::kEstablished || state_ == State::kFinWait1 || state_ == State::kFinWait2)) {
    const TcpSeq before = rcv_nxt_;
    bool ack_now = false;
    kept = queue_payload(seq, payload, &ack_now);
    new_data = rcv_nxt_ != before;
    if (ack_now) ack_now_ = true;
    stats_.bytes_in += uint32_t(rcv_nxt_ - before);
  }
  // The application sees the data before the FIN that may end the connection.
  if (new_data && handler_ && readable()) {
    handler_->on_data(*this);
    if (state_ == State::kClosed) return kept;
  }
  // Eighth: FIN. In order it closes the receive side; beyond a hole it waits for the hole.
  if (h.flags & f::kFin) {
    const TcpSeq fin_at = seq + payload.len;
    if (fin_at == rcv_nxt_) {
      on_fin(fin_at);
    } else if (rcv_nxt_ < fin_at) {
      ooo_fin_ = true;
      ooo_fin_seq_ = fin_at;
      ack_now_ = true;
    }
  } else if (ooo_fin_ && ooo_fin_seq_ == rcv_nxt_) {
    on_fin(ooo_fin_seq_);
  }
  if (state_ == State::kClosed) return kept;
  output();
  return kept;
}

bool Connection::input_syn_sent(const Header& h, const Options& opt) {
  // RFC 9293 §3.10.7.3.
  const TcpSeq ack(h.ack);
  const bool has_ack = h.flags & f::kAck_;
  if (has_ack && (ack <= iss_ || ack > snd_max_)) {
    if (!(h.flags & f::kRst)) send_rst_at(h.ack);  // <SEQ=SEG.ACK><CTL=RST>
    return false;
  }
  if (h.flags & f::kRst) {
    if (has_ack) {
      host_.count(Counter::tcp_rst_received);
      host_.count(Counter::tcp_reset);
      finish(Error::kRefused);
    }
    return false;
  }
  if (!(h.flags & f::kSyn)) return false;
  irs_ = TcpSeq(h.seq);
  rcv_nxt_ = irs_ + 1;
  // The window's right edge starts at RCV.NXT (RFC 9293 §3.3.1); left at its zero value it would
  // lie anywhere relative to an ISN 2^31 away, and seq_max() could keep it there, opening a
  // window of up to 2^31 bytes.
  rcv_adv_ = last_ack_sent_ = rcv_nxt_;
  negotiate(opt, our_mss_);
  if (!has_ack) {
    // Simultaneous open (§3.5, figure 8): SYN-RECEIVED, and SYN-ACK with our same ISN.
    state_ = State::kSynReceived;
    send_syn();
    return false;
  }
  take_rtt_sample(opt, ack);
  snd_una_ = ack;
  snd_nxt_ = seq_max(snd_nxt_, snd_una_);
  snd_wnd_ = h.window;  // RFC 7323 §2.2: a SYN's window is never scaled
  max_snd_wnd_ = snd_wnd_;
  snd_wl1_ = irs_;
  snd_wl2_ = ack;
  retries_ = 0;
  disarm();
  state_ = fin_queued_ ? State::kFinWait1 : State::kEstablished;
  host_.count(Counter::tcp_connected);
  ack_now_ = true;
  arm_idle();
  if (handler_) handler_->on_connected(*this);
  if (state_ != State::kClosed) output();
  return false;
}

void Connection::take_rtt_sample(const Options& opt, TcpSeq ack) {
  // RFC 6298 §3 (Karn): timing stops at a retransmission, so a timed sample is never ambiguous;
  // RFC 7323 §4.1: a timestamp echo is unambiguous even after retransmission.
  if (rtt_timing_ && ack > rtt_seq_) {
    rtt_timing_ = false;
    rtt_.sample(uint32_t(std::max<uint64_t>(host_.ticks_to_us(host_.now() - rtt_start_), 1)));
  } else if (ts_ok_ && opt.has_timestamps && opt.ts_ecr) {
    const uint32_t ms = host_.now_ms() + ts_offset_ - opt.ts_ecr;
    if (ms < 60'000) rtt_.sample(std::max<uint32_t>(ms * 1000, 1));
  }
}

bool Connection::process_ack(const Header& h, const Options& opt, uint32_t payload_len) {
  const TcpSeq ack(h.ack);
  const TcpSeq seq(h.seq);
  // §3.10.7.4 fifth: an ACK for data not yet sent is answered with an ACK and the segment
  // dropped, its text too (false: a blind injection's data must not reach the application).
  if (ack > snd_max_) {
    // RFC 5961 §5.2: an ACK beyond what was sent (a blind injection guessing the sequence
    // space) is a challenge ACK's cause too, and counts against the same budget.
    if (host_.allow_challenge_ack()) {
      host_.count(Counter::tcp_challenge_acks);
      ack_now_ = true;
    }
    return false;
  }
  // RFC 5961 §5.2: an ACK far below SND.UNA (beyond the largest window the peer has seen) is a
  // blind injection attempt: challenge ACK.
  if (ack < snd_una_ - std::max<uint32_t>(max_snd_wnd_, 65535)) {
    if (host_.allow_challenge_ack()) {
      host_.count(Counter::tcp_challenge_acks);
      ack_now_ = true;
    }
    return false;
  }
  if (ack < snd_una_) return true;  // an old duplicate: nothing to learn from it
  // RFC 9293 §3.10.7.4: the window is taken from the newest segment (SND.WL1/WL2 order them).
  bool window_changed = false;
  if (snd_wl1_ < seq || (snd_wl1_ == seq && snd_wl2_ <= ack)) {
    const uint32_t w = uint32_t(h.window) << snd_shift_;
    window_changed = w != snd_wnd_;
    snd_wnd_ = w;
    max_snd_wnd_ = std::max(max_snd_wnd_, w);
    snd_wl1_ = seq;
    snd_wl2_ = ack;
    if (w > 0 && mode_ == TimerMode::kPersist) {
      disarm();
      retries_ = 0;
    }
  }
  const bool sacked_more = sack_ok_ && opt.sack_count && update_scoreboard(opt);
  if (ack > snd_una_) {
    on_new_ack(ack, opt);
  } else if (snd_max_ != snd_una_ && snd_wnd_ != 0 && !(h.flags & (f::kSyn | f::kFin)) &&
             (sacked_more || (payload_len == 0 && !window_changed))) {
    // RFC 5681 §2: the definition of a duplicate ACK; RFC 6675 §2 counts an ACK that SACKs new
    // data as one too, whatever its window says and whether or not it carries data (a receiver
    // such as Linux moves its window on nearly every ACK, and piggybacks ACKs on its own data,
    // which would hide every duplicate from the strict definition). Not while
    // the peer's window is zero: the only byte out is a persist probe (RFC 9293 §3.8.6.1) and
    // its ACK says "no room", not "lost"; counting them would fast-retransmit a full segment
    // into the closed window.
    on_dup_ack();
  }
  return true;
}

void Connection::on_new_ack(TcpSeq ack, const Options& opt) {
  const uint32_t flight_before = flight();
  take_rtt_sample(opt, ack);
  uint32_t acked = uint32_t(ack - snd_una_);
  if (syn_unacked()) --acked;  // the SYN's sequence number
  const bool fin_acked = fin_sent_ && ack > fin_seq_;
  if (fin_acked) --acked;
  // The acknowledged data leaves the send queue.
  uint32_t data_acked = std::min(acked, sndq_.bytes());
  const uint32_t total_acked = data_acked;
  while (data_acked) {
    ChunkNode* n = sndq_.head();
    if (data_acked < n->c.len) {
      n->c.data += data_acked;
      n->c.len -= data_acked;
      sndq_.shrank(data_acked);
      sndq_base_ += data_acked;
      if (tx_cursor_ == n) tx_cursor_at_ = sndq_base_;
      break;
    }
    data_acked -= n->c.len;
    sndq_base_ += n->c.len;
    if (tx_cursor_ == n) tx_cursor_ = nullptr;
    sndq_.pop();
    --host_.tx_held_;
    host_.env().release(n->c.owner);
    host_.chunks().put(n);
  }
  stats_.bytes_out += total_acked;
  snd_una_ = ack;
  if (snd_nxt_ < snd_una_) snd_nxt_ = snd_una_;
  if (high_rxt_ < snd_una_) high_rxt_ = snd_una_;
  // SACKed ranges now below SND.UNA are forgotten.
  int keep = 0;
  for (int i = 0; i < sb_n_; ++i) {
    if (sb_[i].right <= snd_una_) continue;
    sb_[keep] = sb_[i];
    if (sb_[keep].left < snd_una_) sb_[keep].left = snd_una_;
    ++keep;
  }
  sb_n_ = uint8_t(keep);
  retries_ = 0;
  limited_transmit_ = 0;

  // Congestion control.
  const uint32_t bytes = uint32_t(total_acked) + (fin_acked ? 1 : 0);
  if (in_recovery_) {
    if (ack >= recover_) {
      // RFC 6582 §3.2 step 3 (full acknowledgment): deflate to min(ssthresh, FlightSize + SMSS).
      in_recovery_ = false;
      cwnd_ = std::min(ssthresh_, flight() + mss_);
      dupacks_ = 0;
    } else if (!sack_ok_) {
      // RFC 6582 §3.2 step 5 (partial acknowledgment): retransmit the first unacknowledged
      // segment, deflate cwnd by what was acknowledged and add back one SMSS.
      const uint32_t len = fit_to_chunk(snd_una_, std::min<uint32_t>(mss_, sndq_.bytes()));
      if (len && send_segment(snd_una_, len, f::kAck_)) {
        ++stats_.retransmits;
        host_.count(Counter::tcp_retransmits);
      }
      cwnd_ = cwnd_ > bytes ? cwnd_ - bytes : 0;
      if (bytes >= mss_) cwnd_ += mss_;
      cwnd_ = std::max<uint32_t>(cwnd_, mss_);
    }
    // With SACK the recovery continues: output() fills the next holes (RFC 6675 §5).
  } else if (flight_before * 2 < cwnd_) {
    // RFC 7661 §4.1: a window the sender does not use is not validated by ACKs; growing it
    // anyway (an application-limited or receiver-limited flow) would let a later burst out at
    // a rate the path never carried.
    dupacks_ = 0;
  } else {
    dupacks_ = 0;
    if (cwnd_ < ssthresh_) {
      cwnd_ += std::min<uint32_t>(bytes, mss_);  // RFC 5681 §3.1 slow start (eq. 2)
    } else if (host_.settings().congestion == Congestion::kCubic) {
      cwnd_ = cubic_.on_ack(cwnd_, mss_, bytes, host_.ticks_to_us(host_.now()), std::max<uint32_t>(rtt_.srtt_us(), 1));
    } else {
      // Congestion avoidance, RFC 5681 §3.1: one SMSS per window of acknowledged bytes.
      bytes_acked_ += bytes;
      if (bytes_acked_ >= cwnd_) {
        bytes_acked_ -= cwnd_;
        cwnd_ += mss_;
      }
    }
  }

  // RFC 6298 §5.2, §5.3: off when everything is acknowledged, restarted otherwise (as a tail
  // loss probe first where RFC 8985 §7.2 allows one).
  tlp_sent_ = false;
  if (snd_max_ == snd_una_) {
    if (mode_ == TimerMode::kRetransmit || mode_ == TimerMode::kProbe) disarm();
    arm_idle();
  } else if (mode_ != TimerMode::kPersist) {
    arm_loss_timer();
  }

  if (fin_acked) {
    switch (state_) {
      case State::kFinWait1:
        state_ = State::kFinWait2;
        // A connection the application has closed does not wait for the peer's FIN forever.
        if (app_closed_) arm(TimerMode::kFinWait2, host_.ms_to_ticks(host_.settings().fin_wait2_ms));
        break;
      case State::kClosing:
        enter_time_wait();
        return;
      case State::kLastAck:
        host_.count(Counter::tcp_closed);
        finish(Error::kNone);
        return;
      default:
        break;
    }
  }
  if (was_writable_blocked_ && send_space() > 0 && handler_) {
    was_writable_blocked_ = false;
    handler_->on_writable(*this);
  }
}

uint32_t Connection::ssthresh_after_loss() {
  if (host_.settings().congestion == Congestion::kCubic) return cubic_.on_loss(cwnd_, mss_);
  return std::max<uint32_t>(flight() / 2, 2u * mss_);  // RFC 5681 eq. 4
}

void Connection::on_dup_ack() {
  if (dupacks_ < 255) ++dupacks_;
  if (in_recovery_) {
    // RFC 6582 §3.2 step 4: each further duplicate ACK means a segment left the network.
    if (!sack_ok_) cwnd_ += mss_;
    return;
  }
  uint32_t sacked = 0;
  for (int i = 0; i < sb_n_; ++i) sacked += uint32_t(sb_[i].right - sb_[i].left);
  // RFC 5681 §3.2 / RFC 6675 §5: three duplicate ACKs, or (with SACK) DupThresh segments' worth
  // of data SACKed above SND.UNA. RFC 6582 §4.1: not again for losses of the window already
  // being recovered.
  // RFC 8985 §7.4 (in the spirit of RACK, without its per-segment clock): the tail loss probe
  // went out 2 SRTT after the tail; an ACK that SACKs it while what lies below stays unSACKed
  // means those segments are lost, not late.
  // RFC 5827 (early retransmit): with fewer than four segments out and nothing new to send,
  // three duplicates can never come; the threshold is one less than the segments out.
  const uint32_t out_segs = (flight() + mss_ - 1) / mss_;
  const uint32_t queued_end = uint32_t(data_start() + sndq_.bytes() - snd_nxt_);
  const bool nothing_new = int32_t(queued_end) <= 0 || snd_una_ + snd_wnd_ <= snd_nxt_;
  const uint32_t thresh = out_segs < 4 && nothing_new ? std::max<uint32_t>(out_segs, 2) - 1 : 3;
  const bool loss = dupacks_ >= thresh || (sack_ok_ && sacked >= thresh * mss_) || (sack_ok_ && tlp_sent_ && sacked > 0);
  // RFC 6582 §4.1: without SACK, duplicates for data sent before the last recovery point may
  // be echoes of that recovery's retransmissions. With SACK they are told apart (a duplicate
  // retransmission SACKs nothing new), and holding recovery back until SND.UNA passes the point
  // an RTO set would leave every loss in that window to the next RTO.
  if (!loss || (!sack_ok_ && snd_una_ <= recover_)) {
    // RFC 3042 (limited transmit): each of the first two duplicates lets one new segment out
    // beyond cwnd, so that a small window still produces the duplicates that detect a loss.
    if (!loss && dupacks_ <= 2) {
      limited_transmit_ = uint32_t(dupacks_) * mss_;
      output();
    }
    return;
  }
  limited_transmit_ = 0;
  in_recovery_ = true;
  recover_ = snd_max_;
  ssthresh_ = ssthresh_after_loss();
  rtt_timing_ = false;
  ++stats_.fast_retransmits;
  host_.count(Counter::tcp_fast_retransmits);
  high_rxt_ = snd_una_;
  // The first unacknowledged segment goes at once (RFC 5681 §3.2 step 2; RFC 6675 §5 step 4.3).
  const uint32_t len = fit_to_chunk(snd_una_, std::min<uint32_t>(mss_, sndq_.bytes()));
  if (len && send_segment(snd_una_, len, f::kAck_)) {
    ++stats_.retransmits;
    host_.count(Counter::tcp_retransmits);
    high_rxt_ = snd_una_ + len;
  }
  cwnd_ = sack_ok_ ? ssthresh_ : ssthresh_ + 3u * mss_;  // RFC 6582 §3.2 step 3; RFC 6675 §5
  arm_loss_timer();
}

bool Connection::update_scoreboard(const Options& opt) {
  uint32_t before = 0;
  for (int i = 0; i < sb_n_; ++i) before += uint32_t(sb_[i].right - sb_[i].left);
  // RFC 2018 §3: blocks are [left, right). Blocks below SND.UNA (D-SACK, RFC 2883) or beyond
  // what was sent are ignored.
  for (int k = 0; k < opt.sack_count; ++k) {
    TcpSeq l(opt.sack[k].left), r(opt.sack[k].right);
    if (!(l < r) || r <= snd_una_ || r > snd_max_) continue;
    if (l < snd_una_) l = snd_una_;
    // Insert in order, merging overlaps and neighbours.
    SackRange nr{l, r};
    SackRange out[kScoreboard + 1];
    int n = 0;
    bool placed = false;
    for (int i = 0; i < sb_n_; ++i) {
      const SackRange& c = sb_[i];
      if (c.right < nr.left) {
        out[n++] = c;
      } else if (nr.right < c.left) {
        if (!placed) out[n++] = nr, placed = true;
        out[n++] = c;
      } else {
        nr.left = seq_min(nr.left, c.left);
        nr.right = seq_max(nr.right, c.right);
      }
    }
    if (!placed) out[n++] = nr;
    // Full: keep the lowest ranges (the holes nearest SND.UNA matter first).
    sb_n_ = uint8_t(std::min(n, kScoreboard));
    std::copy(out, out + sb_n_, sb_);
  }
  uint32_t after = 0;
  for (int i = 0; i < sb_n_; ++i) after += uint32_t(sb_[i].right - sb_[i].left);
  return after > before;
}

bool Connection::queue_payload(TcpSeq seq, const Chunk& payload, bool* ack_now) {
  Chunk c = payload;
  // Trim what lies before RCV.NXT (already received) and beyond the window's right edge.
  if (seq < rcv_nxt_) {
    const uint32_t dup = uint32_t(rcv_nxt_ - seq);
    if (dup >= c.len) {
      *ack_now = true;  // a duplicate: tell the peer where we are (RFC 9293 §3.10.7.4)
      return false;
    }
    c.data += dup;
    c.len -= dup;
    seq = rcv_nxt_;
  }
  const TcpSeq edge = seq_max(rcv_adv_, rcv_nxt_);
  if (seq >= edge) {
    *ack_now = true;
    return false;
  }
  if (seq + c.len > edge) c.len = uint32_t(edge - seq);

  if (seq == rcv_nxt_) {
    // In order. Small payloads are copied into the room behind the previous chunk so that a
    // stream of tiny segments cannot pin an mbuf per byte.
    const bool had_ooo = ooo_ != nullptr;
    bool kept = false;
    ChunkNode* t = rcvq_.tail();
    if (t && c.len <= t->c.room && c.len <= 512) {
      std::memcpy(t->c.data + t->c.len, c.data, c.len);
      t->c.len += c.len;
      t->c.room -= c.len;
      rcvq_.grew(c.len);
    } else {
      if (!rx_room()) return false;  // not acknowledged: the peer sends it again
      ChunkNode* n = host_.chunks().get();
      if (!n) {
        host_.count(Counter::tcp_no_buffer);
        return false;
      }
      n->c = c;
      rcvq_.push(n);
      ++host_.rx_held_;
      kept = true;
    }
    rcv_nxt_ += c.len;
    if (had_ooo) {
      pull_ooo();
      *ack_now = true;  // RFC 5681 §4.2: a segment that fills a hole is ACKed at once
    }
    // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: an ACK for at least every second full-sized segment,
    // else within the delayed-ACK time.
    if (c.len >= mss_) ++segs_unacked_;
    if (segs_unacked_ >= 2) *ack_now = true;
    ack_pending_ = true;
    return kept;
  }

  // Out of order: into the sorted queue, trimmed against its neighbours; an immediate ACK
  // (a duplicate, with SACK blocks) follows (RFC 5681 §4.2, RFC 2018 §4).
  *ack_now = true;
  last_ooo_seq_ = seq;
  ChunkNode** link = &ooo_;
  while (*link && (*link)->seq + (*link)->c.len <= seq) link = &(*link)->next;
  // Now *link is the first queued segment ending after seq: trim our head against it if it
  // starts at or before us, and our tail against whoever follows.
  if (*link && (*link)->seq <= seq) {
    const uint32_t covered = uint32_t((*link)->seq + (*link)->c.len - seq);
    if (covered >= c.len) return false;
    c.data += covered;
    c.len -= covered;
    seq = seq + covered;
    link = &(*link)->next;
  }
  if (*link && seq + c.len > (*link)->seq) c.len = uint32_t((*link)->seq - seq);
  if (c.len == 0) return false;
  if (ooo_count_ >= host_.settings().ooo_max_segments) {
    host_.count(Counter::tcp_ooo_dropped);
    return false;
  }
  if (!rx_room()) return false;
  // rx_room may have pruned the queue `link` points into: find the place again.
  link = &ooo_;
  while (*link && (*link)->seq + (*link)->c.len <= seq) link = &(*link)->next;
  if (*link && seq + c.len > (*link)->seq) c.len = uint32_t((*link)->seq - seq);
  if (c.len == 0) return false;
  ChunkNode* n = host_.chunks().get();
  if (!n) {
    host_.count(Counter::tcp_no_buffer);
    return false;
  }
  n->c = c;
  n->c.room = 0;  // appending into it would break the sequence bookkeeping
  n->seq = seq;
  n->next = *link;
  *link = n;
  ++ooo_count_;
  ++host_.rx_held_;
  host_.count(Counter::tcp_ooo_queued);
  return true;
}

bool Connection::rx_room() {
  if (host_.rx_admits(rx_held(), rx_limit_)) return true;
  // This connection's own out-of-order data goes first (RFC 2018 §8 lets a receiver discard
  // what it SACKed; the sender keeps it until cumulatively acknowledged), then, at most once a
  // millisecond, every connection's: a hoarder's 1-byte segments cost a buffer each.
  if (ooo_) prune_ooo();
  if (host_.rx_admits(rx_held(), rx_limit_)) return true;
  host_.relieve_rx_pressure();
  if (host_.rx_admits(rx_held(), rx_limit_)) return true;
  host_.count(Counter::tcp_rx_mem_dropped);
  return false;
}

void Connection::prune_ooo() {
  host_.count(Counter::tcp_ooo_pruned, ooo_count_);
  host_.rx_held_ -= ooo_count_;
  while (ooo_) {
    ChunkNode* n = ooo_;
    ooo_ = n->next;
    host_.env().release(n->c.owner);
    host_.chunks().put(n);
  }
  ooo_count_ = 0;
}

void Connection::pull_ooo() {
  while (ooo_ && ooo_->seq <= rcv_nxt_) {
    ChunkNode* n = ooo_;
    ooo_ = n->next;
    --ooo_count_;
    const uint32_t skip = uint32_t(rcv_nxt_ - n->seq);
    if (skip >= n->c.len) {
      host_.env().release(n->c.owner);
      host_.chunks().put(n);
      --host_.rx_held_;
      continue;
    }
    n->c.data += skip;
    n->c.len -= skip;
    rcv_nxt_ += n->c.len;
    rcvq_.push(n);
  }
}

void Connection::on_fin(TcpSeq fin_at) {
  if (peer_fin_) return;
  peer_fin_ = true;
  ooo_fin_ = false;
  rcv_nxt_ = fin_at + 1;
  ack_now_ = true;
  switch (state_) {
    case State::kSynReceived:
    case State::kEstablished:
      state_ = State::kCloseWait;
      break;
    case State::kFinWait1:
      // Our FIN not yet acknowledged (or we would be in FIN-WAIT-2): simultaneous close.
      state_ = State::kClosing;
      break;
    case State::kFinWait2:
      output();  // the ACK of their FIN, before the application hears of it
      enter_time_wait();
      return;
    default:
      return;
  }
  if (handler_) handler_->on_peer_closed(*this);
}

void Connection::on_icmp_error(uint32_t seq, uint8_t type, uint8_t code, uint16_t mtu) {
  constexpr uint8_t kDestUnreachable = 3, kProtocolUnreachable = 2, kPortUnreachable = 3, kFragmentationNeeded = 4;
  if (type != kDestUnreachable || state_ == State::kClosed || state_ == State::kTimeWait) return;
  // RFC 5927 §4.1: the quoted segment must be one we sent and is not yet acknowledged, or the
  // error is a forgery (or stale) and is ignored.
  const TcpSeq s(seq);
  if (!(snd_una_ <= s && s < seq_max(snd_max_, snd_una_ + 1))) return;
  host_.count(Counter::tcp_icmp_errors);
  if (code == kFragmentationNeeded) {
    // RFC 1191 §6: the path's MTU is smaller than our segments; send smaller ones, and again
    // what was lost to it. Never below RFC 9293 §3.7.1's 536-byte default, nor for a router
    // that names no MTU (RFC 1191 §5 plateaus are left out: the next error will name one).
    if (mtu < 576) return;
    const uint16_t fit = uint16_t(mtu - 40 - (ts_ok_ ? 12 : 0));
    if (fit >= mss_) return;
    mss_ = fit;
    cwnd_ = std::max<uint32_t>(cwnd_, 2u * mss_);
    snd_nxt_ = snd_una_;
    in_recovery_ = false;
    sb_n_ = 0;
    rtt_timing_ = false;
    output();
    return;
  }
  // RFC 1122 §4.2.3.9: while connecting, an unreachable destination ends the attempt (Linux
  // does so for every unreachable code); once synchronized, errors are soft (RFC 5927 §4.1):
  // remembered, and named if the connection later times out.
  if (state_ == State::kSynSent) {
    host_.count(Counter::tcp_connect_failed);
    finish(Error::kUnreachable);
    return;
  }
  if (code == kProtocolUnreachable || code == kPortUnreachable || code <= 1 || code >= 9) soft_error_ = true;
}

}  // namespace redline::tcp
