// A connection's timers, both on its worker's wheel: one for retransmission (RFC 6298), persist
// (RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6), TIME-WAIT (2 MSL) and FIN-WAIT-2 — never
// two of them at once — and one for the delayed ACK (RFC 9293 §3.8.6.3).
#include <algorithm>

#include "stack/tcp/connection.hpp"
#include "stack/tcp/host.hpp"

namespace redline::tcp {

using net::Counter;
namespace f = wire::tcp;

void Connection::arm(TimerMode mode, uint64_t ticks) {
  mode_ = mode;
  host_.wheel().schedule(timer_, host_.now() + std::max<uint64_t>(ticks, 1));
}

void Connection::disarm() {
  mode_ = TimerMode::kNone;
  host_.wheel().cancel(timer_);
}

void Connection::arm_rto() { arm(TimerMode::kRetransmit, host_.us_to_ticks(rtt_.rto_us())); }

void Connection::arm_loss_timer() {
  // RFC 8985 §7.2: a probe timeout of 2 SRTT (plus the peer's worst-case delayed ACK when one
  // segment is out), never beyond the RTO; only with an RTT sample,
  // outside loss recovery, one probe per tail, and not after a timeout (backoff pending).
  const bool open = state_ == State::kEstablished || state_ == State::kCloseWait || state_ == State::kFinWait1 ||
                    state_ == State::kClosing || state_ == State::kLastAck;
  if (!open || tlp_sent_ || !rtt_.has_sample() || rtt_.backoffs() != 0 ||
      !host_.settings().tail_loss_probe)
    return arm_rto();
  uint64_t pto_us = 2 * uint64_t(rtt_.srtt_us());
  // WCDelAckT: the peer's delayed ACK is not ours to know; RFC 8985 §7.2 takes 200 ms, which
  // with the usual 200 ms RTO floor leaves a lone segment to the RTO.
  if (flight() <= mss_) pto_us += 200'000;
  pto_us = std::max<uint64_t>(pto_us, 1000);  // a tick-accurate floor: the wheel's resolution
  if (pto_us >= rtt_.rto_us()) return arm_rto();
  arm(TimerMode::kProbe, host_.us_to_ticks(pto_us));
}

void Connection::probe_timeout() {
  // RFC 8985 §7.3: send one new segment if the window allows, else the last one again, so the
  // peer's ACK (with SACK) tells what the tail lost without waiting for the RTO.
  tlp_sent_ = true;
  host_.count(Counter::tcp_tail_probes);
  if (in_recovery_) {
    // No cumulative progress for 2 SRTT in recovery: the oldest hole's retransmission was lost
    // too (RFC 6675 cannot see that; RACK, RFC 8985 §6, would by its clock). Send it again now
    // rather than wait for the RTO and its collapse of cwnd to one segment.
    const uint32_t len = fit_to_chunk(snd_una_, std::min<uint32_t>(mss_, sndq_.bytes()));
    if (len && send_segment(snd_una_, len, f::kAck_)) {
      ++stats_.retransmits;
      host_.count(Counter::tcp_retransmits);
    }
    rtt_timing_ = false;
    arm_rto();
    return;
  }
  const TcpSeq end = data_start() + sndq_.bytes();
  const uint32_t unsent = snd_nxt_ < end ? uint32_t(end - snd_nxt_) : 0;
  const TcpSeq edge = snd_una_ + snd_wnd_;
  const uint32_t rwnd_room = edge > snd_nxt_ ? uint32_t(edge - snd_nxt_) : 0;
  if (unsent && rwnd_room) {
    const uint32_t len = fit_to_chunk(snd_nxt_, std::min({unsent, uint32_t(mss_), rwnd_room}));
    if (send_segment(snd_nxt_, len, uint8_t(f::kAck_ | (len == unsent ? f::kPsh : 0)))) {
      snd_nxt_ += len;
      snd_max_ = seq_max(snd_max_, snd_nxt_);
    }
  } else if (snd_una_ < snd_max_) {
    const TcpSeq from = uint32_t(end - snd_una_) > mss_ ? end - mss_ : snd_una_;
    const uint32_t len = uint32_t(end - from);
    const bool fin = fin_sent_ && fin_seq_ == end;
    if ((len || fin) && send_segment(from, len, uint8_t(f::kAck_ | (fin ? f::kFin : 0)))) {
      ++stats_.retransmits;
      host_.count(Counter::tcp_retransmits);
    }
    rtt_timing_ = false;  // Karn: the probe makes the timed segment's ACK ambiguous
  }
  arm_rto();
}

void Connection::arm_idle() {
  if (opts_.keepalive.enabled && (state_ == State::kEstablished || state_ == State::kCloseWait)) {
    retries_ = 0;
    arm(TimerMode::kKeepalive, host_.ms_to_ticks(uint64_t(opts_.keepalive.idle_s) * 1000));
  } else if (mode_ == TimerMode::kKeepalive) {
    disarm();
  }
}

void Connection::schedule_delack() {
  if (!host_.wheel().pending(delack_))
    host_.wheel().schedule(delack_, host_.now() + std::max<uint64_t>(host_.ms_to_ticks(host_.settings().delayed_ack_ms), 1));
}

void Connection::on_delack(timer::Timer&, void* ctx) {
  auto* c = static_cast<Connection*>(ctx);
  if (c->ack_pending_ && c->state_ != State::kClosed) {
    c->host_.depth_++;
    c->send_ack();
    c->host_.depth_--;
  }
}

void Connection::on_timer(timer::Timer&, void* ctx) {
  auto* c = static_cast<Connection*>(ctx);
  Host& h = c->host_;
  ++h.depth_;
  const TimerMode mode = c->mode_;
  c->mode_ = TimerMode::kNone;
  switch (mode) {
    case TimerMode::kRetransmit: c->retransmit_timeout(); break;
    case TimerMode::kProbe: c->probe_timeout(); break;
    case TimerMode::kPersist: c->persist_timeout(); break;
    case TimerMode::kKeepalive: c->keepalive_timeout(); break;
    case TimerMode::kTimeWait:
      c->finish(Error::kNone);
      break;
    case TimerMode::kFinWait2:
      h.count(Counter::tcp_timed_out);
      c->finish(Error::kTimeout);
      break;
    case TimerMode::kNone: break;
  }
  --h.depth_;
}

void Connection::retransmit_timeout() {
  const Settings& st = host_.settings();
  ++retries_;
  ++stats_.timeouts;
  host_.count(Counter::tcp_timeouts);
  if (state_ == State::kSynSent || state_ == State::kSynReceived) {
    const uint32_t limit = state_ == State::kSynSent ? st.syn_retries : st.synack_retries;
    if (retries_ > limit) {
      host_.count(Counter::tcp_timed_out);
      return finish(soft_error_ ? Error::kUnreachable : Error::kTimeout);
    }
    rtt_.backoff();
    rtt_timing_ = false;
    host_.count(Counter::tcp_retransmits);
    send_syn();
    arm_rto();
    return;
  }
  if (retries_ > st.retries) {
    host_.count(Counter::tcp_timed_out);
    return finish(soft_error_ ? Error::kUnreachable : Error::kTimeout);
  }
  // RFC 5681 §3.1 eq. 4 and the loss window; RFC 6298 §5.5-5.6 backoff; RFC 6582 §4 recover;
  // RFC 2018 §8: what the peer SACKed is not trusted after a timeout.
  ssthresh_ = ssthresh_after_loss();
  cubic_.on_timeout();
  cwnd_ = mss_;
  bytes_acked_ = 0;
  rtt_.backoff();
  rtt_timing_ = false;
  in_recovery_ = false;
  dupacks_ = 0;
  sb_n_ = 0;
  recover_ = snd_max_;
  high_rxt_ = snd_una_;
  snd_nxt_ = snd_una_;  // go back: what was in flight is sent again as the window allows
  arm_rto();
  output();
}

void Connection::persist_timeout() {
  // RFC 9293 §3.8.6.1: a probe of one byte beyond the zero window; the peer's ACK carries its
  // window. The byte is not counted as sent (SND.NXT stays) but may be acknowledged, so SND.MAX
  // covers it. Probes go on while the peer answers them, with backoff.
  const uint32_t off = uint32_t(snd_nxt_ - data_start());
  if (snd_wnd_ == 0 && sndq_.bytes() > off) {
    if (send_segment(snd_nxt_, 1, f::kAck_)) snd_max_ = seq_max(snd_max_, snd_nxt_ + 1);
    rtt_.backoff();
    arm(TimerMode::kPersist, host_.us_to_ticks(rtt_.rto_us()));
    return;
  }
  output();
}

void Connection::keepalive_timeout() {
  const Keepalive& k = opts_.keepalive;
  if (!k.enabled || !(state_ == State::kEstablished || state_ == State::kCloseWait)) return;
  const uint64_t idle = host_.ms_to_ticks(uint64_t(k.idle_s) * 1000);
  const uint64_t quiet = host_.now() - last_heard_;
  // Heard from the peer since the last probe: it answered, the count starts over.
  if (retries_ > 0 && quiet < host_.ms_to_ticks(uint64_t(k.interval_s) * 1000)) retries_ = 0;
  if (retries_ == 0 && quiet < idle) {
    // Traffic since the timer was set (it is not moved per segment): wait out the rest, so that
    // the next probe goes `idle` after the last segment heard (RFC 1122 §4.2.3.6), the answer
    // to a probe included.
    arm(TimerMode::kKeepalive, idle - quiet);
    return;
  }
  if (retries_ >= k.probes) {
    host_.count(Counter::tcp_timed_out);
    return finish(Error::kTimeout);
  }
  // RFC 1122 §4.2.3.6: a segment with SEG.SEQ = SND.NXT - 1 and no data draws an ACK.
  ++retries_;
  host_.count(Counter::tcp_keepalive_probes);
  send_segment(snd_una_ - 1, 0, f::kAck_);
  arm(TimerMode::kKeepalive, host_.ms_to_ticks(uint64_t(k.interval_s) * 1000));
}

}  // namespace redline::tcp
