// What a connection sends and when: new data within the peer's window and the congestion
// window (RFC 5681), Nagle (RFC 9293 §3.7.4) and sender-side SWS avoidance (§3.8.6.2.1), SACK
// loss recovery filling exactly the holes (RFC 6675), the window we advertise with receiver-side
// SWS avoidance (§3.8.6.2.2), SYN and SYN-ACK with their options, delayed ACKs.
#include <algorithm>

#include "stack/tcp/connection.hpp"
#include "stack/tcp/host.hpp"

namespace redline::tcp {

using net::Counter;
namespace f = wire::tcp;

TcpSeq Connection::ack_seq() const {
  // Never below SND.NXT (what it was), SND.MAX where the window reaches it.
  const TcpSeq window_end = snd_una_ + snd_wnd_;
  return seq_max(snd_nxt_, snd_max_ <= window_end ? snd_max_ : window_end);
}

uint16_t Connection::window_to_advertise() {
  const uint32_t used = uint32_t(readable());
  uint32_t space = rcv_buf_ > used ? rcv_buf_ - used : 0;
  const uint32_t open = rcv_adv_ > rcv_nxt_ ? uint32_t(rcv_adv_ - rcv_nxt_) : 0;
  // Receiver SWS avoidance: move the right edge only by min(RCV.BUFF / 2, MSS) or more.
  if (space > open && space - open < std::min<uint32_t>(rcv_buf_ / 2, mss_)) space = open;
  // RFC 7323 §2.4 and RFC 9293 §3.8.6.2.2: never shrink the window already offered.
  if (space < open) space = open;
  // Round up so that the scaled window never falls short of the edge already offered.
  uint32_t w = (space + (1u << rcv_shift_) - 1) >> rcv_shift_;
  if (uint64_t(w) << rcv_shift_ > uint64_t(rcv_buf_) + open) w = space >> rcv_shift_;
  return uint16_t(std::min<uint32_t>(w, 65535));
}

void Connection::fill_sack(f::Options& o, uint32_t payload) const {
  // RFC 2018 §4: the first block holds the segment that arrived last; the rest follow, most
  // recent first as far as we know (queue order here), up to what fits beside timestamps, and
  // in a data segment up to what fits beside its payload: mss_ counts only the timestamps
  // option, so a full segment has no room for blocks (RFC 2018 §3 lets a sender send fewer).
  const uint32_t room = payload >= mss_ ? 0 : mss_ - payload;
  const size_t fit = room < 4 + 8 ? 0 : (room - 4) / 8;
  const size_t max = std::min<size_t>(ts_ok_ ? 3 : 4, fit);
  if (max == 0) return;
  struct Block {
    TcpSeq l, r;
  } blocks[64];
  size_t n = 0;
  for (ChunkNode* c = ooo_; c && n < 64; c = c->next) {
    const TcpSeq l = c->seq, r = c->seq + c->c.len;
    if (n && blocks[n - 1].r == l) blocks[n - 1].r = r;
    else blocks[n++] = {l, r};
  }
  if (n == 0) return;
  size_t first = 0;
  for (size_t i = 0; i < n; ++i)
    if (blocks[i].l <= last_ooo_seq_ && last_ooo_seq_ < blocks[i].r) first = i;
  o.sack_count = 0;
  o.sack[o.sack_count++] = {blocks[first].l.value(), blocks[first].r.value()};
  for (size_t i = 0; i < n && o.sack_count < max; ++i)
    if (i != first) o.sack[o.sack_count++] = {blocks[i].l.value(), blocks[i].r.value()};
}

bool Connection::send_segment(TcpSeq seq, uint32_t len, uint8_t flags) {
  SegmentOut s;
  s.src = local_;
  s.dst = remote_;
  const uint16_t wnd = window_to_advertise();
  s.h = {local_.port, remote_.port, seq.value(), (flags & f::kAck_) ? rcv_nxt_.value() : 0, flags, wnd};
  if (ts_ok_) {
    s.opt.has_timestamps = true;
    s.opt.ts_val = host_.now_ms() + ts_offset_;
    s.opt.ts_ecr = ts_recent_;
  }
  if (sack_ok_ && ooo_) fill_sack(s.opt, len);
  s.conn = this;
  s.offset = len ? uint32_t(seq - data_start()) : 0;
  s.len = len;
  if (!host_.env().send(s)) {
    host_.count(Counter::tcp_no_buffer);
    return false;
  }
  ++stats_.segs_out;
  host_.count(Counter::tcp_segs_out);
  if (flags & f::kAck_) {
    last_ack_sent_ = rcv_nxt_;
    rcv_adv_ = seq_max(rcv_adv_, rcv_nxt_ + (uint32_t(wnd) << rcv_shift_));
    ack_pending_ = ack_now_ = false;
    segs_unacked_ = 0;
    host_.wheel().cancel(delack_);
  }
  return true;
}

void Connection::send_syn() {
  // RFC 9293 §3.5: SYN (active) or SYN-ACK (passive, or simultaneous open) with our ISN.
  SegmentOut s;
  s.src = local_;
  s.dst = remote_;
  const bool synack = state_ == State::kSynReceived;
  const Settings& st = host_.settings();
  s.opt.mss = our_mss_;
  // On a SYN-ACK an option is echoed only if the peer's SYN had it (RFC 7323 §1.3, RFC 2018 §2).
  if (synack ? ws_ok_ : st.window_scaling) s.opt.window_shift = rcv_shift_;
  s.opt.sack_permitted = synack ? sack_ok_ : st.sack;
  if (synack ? ts_ok_ : st.timestamps) {
    s.opt.has_timestamps = true;
    s.opt.ts_val = host_.now_ms() + ts_offset_;
    s.opt.ts_ecr = synack ? ts_recent_ : 0;
  }
  // RFC 7323 §2.2: the window of a SYN is not scaled.
  s.h = {local_.port, remote_.port, iss_.value(), synack ? rcv_nxt_.value() : 0,
         uint8_t(f::kSyn | (synack ? f::kAck_ : 0)), uint16_t(std::min<uint32_t>(rcv_buf_, 65535))};
  if (!host_.env().send(s)) {
    host_.count(Counter::tcp_no_buffer);
  } else {
    ++stats_.segs_out;
    host_.count(Counter::tcp_segs_out);
    if (synack) {
      last_ack_sent_ = rcv_nxt_;
      rcv_adv_ = seq_max(rcv_adv_, rcv_nxt_ + std::min<uint32_t>(rcv_buf_, 65535));
    }
  }
  if (retries_ == 0) {
    rtt_timing_ = true;
    rtt_seq_ = iss_;
    rtt_start_ = host_.now();
  }
  snd_nxt_ = iss_ + 1;
  snd_max_ = seq_max(snd_max_, snd_nxt_);
  if (mode_ != TimerMode::kRetransmit) arm_rto();
}

void Connection::send_rst_at(uint32_t seq) {
  SegmentOut r;
  r.src = local_;
  r.dst = remote_;
  r.h = {local_.port, remote_.port, seq, 0, f::kRst, 0};
  if (host_.env().send(r)) host_.count(Counter::tcp_rst_sent);
}

void Connection::send_rst() {
  SegmentOut s;
  s.src = local_;
  s.dst = remote_;
  s.h = {local_.port, remote_.port, snd_nxt_.value(), rcv_nxt_.value(), uint8_t(f::kRst | f::kAck_), 0};
  if (host_.env().send(s)) host_.count(Counter::tcp_rst_sent);
}

uint32_t Connection::pipe() const {
  // RFC 6675 §4 SetPipe(), in the simpler form that takes every hole below the highest SACKed
  // byte as lost (the FACK assumption): in flight are the bytes above the highest SACK, plus
  // the hole bytes already retransmitted.
  const TcpSeq high_sack = sb_n_ ? sb_[sb_n_ - 1].right : snd_una_;
  uint32_t p = snd_max_ > high_sack ? uint32_t(snd_max_ - high_sack) : 0;
  const TcpSeq rxt_end = seq_min(high_rxt_, high_sack);
  if (snd_una_ < rxt_end) {
    uint32_t holes = uint32_t(rxt_end - snd_una_);
    for (int i = 0; i < sb_n_; ++i) {
      const TcpSeq l = sb_[i].left, r = seq_min(sb_[i].right, rxt_end);
      if (l < r) holes -= uint32_t(r - l);
    }
    p += holes;
  }
  return p;
}

bool Connection::next_hole(TcpSeq* seq, uint32_t* len) const {
  // RFC 6675 §4 NextSeg() rule 1: the first unSACKed, not yet retransmitted byte below the
  // highest SACKed one.
  TcpSeq cursor = seq_max(snd_una_, high_rxt_);
  for (int i = 0; i < sb_n_; ++i) {
    if (cursor < sb_[i].left) {
      *seq = cursor;
      *len = std::min<uint32_t>(uint32_t(sb_[i].left - cursor), mss_);
      return true;
    }
    cursor = seq_max(cursor, sb_[i].right);
  }
  return false;
}

void Connection::output() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kTimeWait || state_ == State::kSynSent || state_ == State::kSynReceived) {
    if (ack_now_ && state_ != State::kSynSent) send_ack();
    return;
  }
  const Settings& st = host_.settings();
  uint32_t sent = 0;
  while (true) {
    if (sent >= st.max_segments_per_call) {
      host_.want_output(*this);
      break;
    }
    // Loss recovery with SACK: the holes first, as far as the congestion window allows.
    if (in_recovery_ && sack_ok_) {
      TcpSeq hs;
      uint32_t hl;
      if (next_hole(&hs, &hl) && pipe() + hl <= cwnd_) {
        hl = fit_to_chunk(hs, hl);
        if (!send_segment(hs, hl, f::kAck_)) {
          host_.want_output(*this);
          break;
        }
        high_rxt_ = hs + hl;
        ++stats_.retransmits;
        host_.count(Counter::tcp_retransmits);
        rtt_timing_ = false;
        if (mode_ != TimerMode::kRetransmit) arm_loss_timer();
        ++sent;
        continue;
      }
    }
    const uint32_t queued = sndq_.bytes();
    const uint32_t off = uint32_t(snd_nxt_ - data_start());
    const uint32_t avail = off < queued ? queued - off : 0;
    // FIN not yet covered by SND.NXT: once the FIN is acknowledged SND.UNA is past it and `off`
    // reads 0 again, so the FIN's own sequence number says it is done (a second FIN went out
    // there before, found by the tcp_segment fuzz target, and FIN-WAIT-2 retransmitted it until
    // the connection timed out).
    const bool fin_due = fin_queued_ && off <= queued && !(fin_sent_ && snd_nxt_ > fin_seq_);
    if (avail == 0 && !fin_due) break;
    const uint32_t inflight = (in_recovery_ && sack_ok_) ? pipe() : uint32_t(snd_nxt_ - snd_una_);
    const uint32_t allowed = cwnd_ + (in_recovery_ ? 0 : limited_transmit_);
    const uint32_t cwnd_room = allowed > inflight ? allowed - inflight : 0;
    const TcpSeq edge = snd_una_ + snd_wnd_;
    const uint32_t rwnd_room = edge > snd_nxt_ ? uint32_t(edge - snd_nxt_) : 0;
    uint32_t len = std::min({avail, uint32_t(mss_), cwnd_room, rwnd_room});
    bool fin = fin_due && len == avail && (len > 0 || cwnd_room > 0 || inflight == 0);
    if (len == 0 && !fin) break;
    if (len < mss_ && !fin) {
      // Window- or cwnd-limited: no runt segment while anything is in flight (its ACK reopens
      // the window; with nothing in flight the persist timer or this send moves things on).
      if (len < avail && snd_nxt_ != snd_una_) break;
      // All there is, and less than a segment: Nagle holds it while data is unacknowledged.
      if (len == avail && !opts_.nodelay && snd_nxt_ != snd_una_) break;
    }
    if (const uint32_t cut = fit_to_chunk(snd_nxt_, len); cut < len) {
      len = cut;
      fin = false;  // it follows the rest of the data
    }
    const bool retransmission = snd_nxt_ < snd_max_;
    const uint8_t flags = uint8_t(f::kAck_ | (len && len == avail ? f::kPsh : 0) | (fin ? f::kFin : 0));
    if (!send_segment(snd_nxt_, len, flags)) {
      host_.want_output(*this);
      break;
    }
    if (fin) {
      fin_sent_ = true;
      fin_seq_ = snd_nxt_ + len;
    }
    if (retransmission) {
      ++stats_.retransmits;
      host_.count(Counter::tcp_retransmits);
    } else if (!rtt_timing_ && len) {
      rtt_timing_ = true;
      rtt_seq_ = snd_nxt_;
      rtt_start_ = host_.now();
    }
    snd_nxt_ += len + (fin ? 1 : 0);
    snd_max_ = seq_max(snd_max_, snd_nxt_);
    // RFC 8985 §7.2: new data moves the probe timeout. A pending RTO stays as it is, unless it
    // was armed only because one segment was out (a probe was not allowed then, it may be now).
    if (mode_ != TimerMode::kRetransmit || (!tlp_sent_ && !in_recovery_ && rtt_.backoffs() == 0)) arm_loss_timer();
    ++sent;
  }
  // RFC 9293 §3.8.6.1: data waits behind a zero window with nothing in flight: probe it.
  const uint32_t unsent = uint32_t(sndq_.bytes()) - std::min<uint32_t>(sndq_.bytes(), uint32_t(snd_nxt_ - data_start()));
  if (snd_wnd_ == 0 && unsent && snd_nxt_ == snd_una_ && mode_ != TimerMode::kPersist)
    arm(TimerMode::kPersist, host_.us_to_ticks(rtt_.rto_us()));
  if (ack_now_) send_ack();
  else if (ack_pending_) schedule_delack();
}

}  // namespace redline::tcp
