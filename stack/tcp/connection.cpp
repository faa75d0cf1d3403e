// The application-facing half of a connection: sending, receiving, ending, options.
#include "stack/tcp/connection.hpp"

#include <algorithm>

#include "stack/tcp/host.hpp"

namespace redline::tcp {

const char* state_name(State s) {
  switch (s) {
    case State::kClosed: return "CLOSED";
    case State::kSynSent: return "SYN-SENT";
    case State::kSynReceived: return "SYN-RECEIVED";
    case State::kEstablished: return "ESTABLISHED";
    case State::kFinWait1: return "FIN-WAIT-1";
    case State::kFinWait2: return "FIN-WAIT-2";
    case State::kCloseWait: return "CLOSE-WAIT";
    case State::kClosing: return "CLOSING";
    case State::kLastAck: return "LAST-ACK";
    case State::kTimeWait: return "TIME-WAIT";
  }
  return "?";
}

const char* error_name(Error e) {
  switch (e) {
    case Error::kNone: return "closed";
    case Error::kReset: return "reset";
    case Error::kRefused: return "refused";
    case Error::kTimeout: return "timeout";
    case Error::kUnreachable: return "unreachable";
    case Error::kAborted: return "aborted";
  }
  return "?";
}

Connection::Connection(Host& host, const ConnOptions& opts, const Settings& s)
    : host_(host),
      opts_(opts),
      rtt_(s.min_rto_ms * 1000, s.max_rto_ms * 1000, s.initial_rto_ms * 1000, 1000) {
  timer_.set_callback(&Connection::on_timer, this);
  delack_.set_callback(&Connection::on_delack, this);
}

Connection::~Connection() {
  host_.wheel().cancel(timer_);
  host_.wheel().cancel(delack_);
  release_buffers();
}

void Connection::release_buffers() {
  Env& env = host_.env();
  ChunkPool& pool = host_.chunks();
  host_.rx_held_ -= rx_held();
  host_.tx_held_ -= sndq_.count();
  for (ChunkQueue* q : {&rcvq_, &sndq_})
    while (!q->empty()) {
      ChunkNode* n = q->pop();
      env.release(n->c.owner);
      pool.put(n);
    }
  while (ooo_) {
    ChunkNode* n = ooo_;
    ooo_ = n->next;
    env.release(n->c.owner);
    pool.put(n);
  }
  ooo_count_ = 0;
  rcv_head_off_ = 0;
  tx_cursor_ = nullptr;
}

namespace {
bool can_send(State s) { return s == State::kEstablished || s == State::kCloseWait || s == State::kSynSent || s == State::kSynReceived; }
}  // namespace

size_t Connection::send_space() const {
  if (!can_send(state_) || fin_queued_) return 0;
  return snd_buf_ > sndq_.bytes() ? snd_buf_ - sndq_.bytes() : 0;
}

size_t Connection::send(const void* data, size_t len) {
  const size_t space = send_space();
  const size_t take = std::min(len, space);
  if (take < len) was_writable_blocked_ = true;
  const uint8_t* src = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < take) {
    ChunkNode* t = sndq_.tail();
    if (!t || t->c.room == 0) {
      if (!host_.tx_admits(sndq_.count())) {
        host_.want_buffers(*this);
        break;
      }
      ChunkNode* n = host_.chunks().get();
      if (!n) {
        host_.want_buffers(*this);
        break;
      }
      n->c = host_.env().alloc();
      if (!n->c.owner) {
        host_.chunks().put(n);
        host_.want_buffers(*this);
        break;
      }
      n->c.len = 0;
      // Zero-copy send: a chunk per segment, so each segment's payload is one buffer with room
      // for the headers in front of it.
      if (host_.settings().zero_copy_send) n->c.room = std::min<uint32_t>(n->c.room, mss_);
      sndq_.push(n);
      ++host_.tx_held_;
      t = n;
    }
    const uint32_t k = uint32_t(std::min<size_t>(take - done, t->c.room));
    std::memcpy(t->c.data + t->c.len, src + done, k);
    t->c.len += k;
    t->c.room -= k;
    sndq_.grew(k);
    done += k;
  }
  if (done < len) was_writable_blocked_ = true;
  if (done) host_.want_output(*this);
  return done;
}

bool Connection::send_chunk(const Chunk& c) {
  if (send_space() < c.len) {
    was_writable_blocked_ = true;
    return false;
  }
  ChunkNode* n = host_.tx_admits(sndq_.count()) ? host_.chunks().get() : nullptr;
  if (!n) {
    host_.want_buffers(*this);
    return false;
  }
  n->c = c;
  n->c.room = 0;  // not ours to append to
  sndq_.push(n);
  ++host_.tx_held_;
  host_.want_output(*this);
  return true;
}

size_t Connection::send_received(Connection& from, size_t n) {
  const size_t want = std::min(n, from.readable());
  const size_t space = send_space();
  size_t moved = 0;
  uint32_t skip = from.rcv_head_off_;
  for (ChunkNode* r = from.rcvq_.head(); r && moved < want; r = r->next) {
    const uint32_t k = uint32_t(std::min<size_t>(r->c.len - skip, want - moved));
    // Whole chunks only, as far as the buffer has room: the rest waits for on_writable. Split
    // for want of room, a chunk's two parts could not go out in place (each one's headers would
    // land on the other's bytes) and the segments after them would straddle chunks.
    if (k > space - moved) break;
    ChunkNode* q = host_.tx_admits(sndq_.count()) ? host_.chunks().get() : nullptr;
    if (!q) {
      host_.want_buffers(*this);
      break;
    }
    // A second reference to the buffer: `from` releases its own when the bytes are consumed,
    // this queue when they are acknowledged.
    host_.env().retain(r->c.owner);
    q->c = {r->c.owner, r->c.data + skip, k, 0};  // room 0: another queue's buffer, not ours to fill
    sndq_.push(q);
    ++host_.tx_held_;
    moved += k;
    skip = 0;
  }
  if (moved < want) was_writable_blocked_ = true;  // on_writable when there is room again
  from.consume(moved);
  if (moved) host_.want_output(*this);
  return moved;
}

ChunkNode* Connection::seek(uint32_t offset, uint32_t* skip) const {
  const uint64_t want = sndq_base_ + offset;
  ChunkNode* n = sndq_.head();
  uint64_t at = sndq_base_;
  if (tx_cursor_ && tx_cursor_at_ <= want) {
    n = tx_cursor_;
    at = tx_cursor_at_;
  }
  while (n && want >= at + n->c.len) {
    at += n->c.len;
    n = n->next;
  }
  tx_cursor_ = n;
  tx_cursor_at_ = at;
  *skip = uint32_t(want - at);
  return n;
}

void Connection::copy_payload(uint32_t offset, uint32_t len, uint8_t* out) const {
  uint32_t skip;
  for (ChunkNode* n = seek(offset, &skip); len && n; n = n->next) {
    const uint32_t k = std::min(len, n->c.len - skip);
    std::memcpy(out, n->c.data + skip, k);
    out += k;
    len -= k;
    skip = 0;
  }
}

const Chunk* Connection::payload_in_one_chunk(uint32_t offset, uint32_t len) const {
  uint32_t skip;
  const ChunkNode* n = seek(offset, &skip);
  return n && skip == 0 && len <= n->c.len ? &n->c : nullptr;
}

uint32_t Connection::fit_to_chunk(TcpSeq seq, uint32_t len) const {
  if (!host_.settings().zero_copy_send || len == 0 || seq < data_start()) return len;
  uint32_t skip;
  const ChunkNode* n = seek(uint32_t(seq - data_start()), &skip);
  if (!n) return len;
  const uint32_t rest = n->c.len - skip;
  if (rest >= len) return len;  // the segment ends inside this chunk: nothing to cut
  // It would run on into the next chunk, so it would be copied.
  // At a chunk start, a chunk a little short of a full segment (a peer's segments arriving with
  // SACK blocks among their options carry 1436 bytes or less where ours carry 1448) goes out on
  // its own, in place: a segment up to 1/8 short against a copy of every one.
  if (skip == 0) return rest >= mss_ - mss_ / 8u ? rest : len;
  // Inside a chunk (a window-limited segment before it ended early, the MSS shrank, or the
  // application's chunk is longer than a segment): ending the segment at the chunk's end costs
  // one short segment and puts the next at a chunk start, which pays only if the chunks after
  // it fit a segment each (send()'s do): then every later segment goes in place. Not for chunks
  // under half a segment (a few bytes each, copied together rather than sent one by one), nor
  // before chunks longer than a segment (they would be cut again, each).
  if (n->c.len < mss_ / 2u || !n->next || n->next->c.len > mss_) return len;
  return rest;
}

void Connection::consume(size_t n) {
  n = std::min(n, readable());
  if (n == 0) return;
  while (n) {
    ChunkNode* h = rcvq_.head();
    const uint32_t left = h->c.len - rcv_head_off_;
    if (n < left) {
      rcv_head_off_ += uint32_t(n);
      break;
    }
    n -= left;
    rcv_head_off_ = 0;
    rcvq_.pop();
    --host_.rx_held_;
    host_.env().release(h->c.owner);
    host_.chunks().put(h);
  }
  // RFC 9293 §3.8.6.2.2: a window update at once when it matters to the peer: the window it
  // holds (RCV.ADV - RCV.NXT) is under a segment, so it may be stalled or probing a zero window,
  // or the right edge moves by two segments or half the buffer (BSD's tcp_output rule). A
  // smaller opening rides on the next ACK, which the every-second-segment rule or the
  // delayed-ACK timer sends anyway: an update per segment consumed would ACK every segment of a
  // bulk transfer and defeat the delayed ACK (RFC 5681 §4.2). The edge moves only by the SWS
  // minimum or more (window_to_advertise).
  const uint32_t peer_open = rcv_adv_ > rcv_nxt_ ? uint32_t(rcv_adv_ - rcv_nxt_) : 0;
  const uint32_t now_open = uint32_t(window_to_advertise()) << rcv_shift_;
  const uint32_t move = now_open > peer_open ? now_open - peer_open : 0;
  if (state_ != State::kClosed && move >= std::min<uint32_t>(rcv_buf_ / 2, mss_) &&
      (peer_open < mss_ || move >= 2u * mss_ || move >= rcv_buf_ / 2)) {
    ack_now_ = true;
    host_.want_output(*this);
  }
}

size_t Connection::read_copy(void* out, size_t max) {
  uint8_t* dst = static_cast<uint8_t*>(out);
  size_t copied = 0;
  read([&](std::span<const uint8_t> s) {
    const size_t k = std::min(s.size(), max - copied);
    if (k) std::memcpy(dst + copied, s.data(), k);  // memcpy's pointers must be valid even for 0 bytes
    copied += k;
    return copied < max;
  });
  consume(copied);
  return copied;
}

void Connection::shutdown() {
  switch (state_) {
    case State::kSynSent:
      finish(Error::kNone);
      return;
    case State::kSynReceived:
    case State::kEstablished:
    case State::kCloseWait:
      if (fin_queued_) return;
      fin_queued_ = true;
      // RFC 9293 §3.10.4: the FIN goes after the queued data; the state changes now.
      if (state_ == State::kCloseWait) state_ = State::kLastAck;
      else if (state_ == State::kEstablished) state_ = State::kFinWait1;
      host_.want_output(*this);
      return;
    default:
      return;
  }
}

void Connection::close() {
  if (app_closed_) return;
  app_closed_ = true;
  if (readable() > 0 && state_ != State::kSynSent) return abort();  // RFC 2525 §2.17
  shutdown();
}

void Connection::abort() {
  if (state_ == State::kClosed || state_ == State::kTimeWait) return;
  // RFC 9293 §3.10.5: ABORT sends RST in the synchronized states.
  if (state_ != State::kSynSent) send_rst();
  host_.count(net::Counter::tcp_reset);
  finish(Error::kAborted);
}

void Connection::set_keepalive(const Keepalive& k) {
  opts_.keepalive = k;
  // Re-armed (or disarmed) now unless a retransmission or persist timer owns the timer.
  if (state_ == State::kEstablished && (mode_ == TimerMode::kKeepalive || mode_ == TimerMode::kNone)) arm_idle();
}

void Connection::notify_closed(Error e) {
  if (closed_notified_) return;
  closed_notified_ = true;
  Handler* h = handler_;
  handler_ = nullptr;
  if (h) h->on_closed(*this, e);
}

void Connection::finish(Error e) {
  host_.wheel().cancel(timer_);
  host_.wheel().cancel(delack_);
  mode_ = TimerMode::kNone;
  if (state_ == State::kTimeWait) host_.tw_remove(*this);
  if (listener_) {
    --listener_->half_open_;
    listener_ = nullptr;
  }
  state_ = State::kClosed;
  release_buffers();
  notify_closed(e);
  host_.retire(*this);
}

void Connection::enter_time_wait() {
  state_ = State::kTimeWait;
  host_.wheel().cancel(delack_);
  // The application is done with it: it lives on only to answer a retransmitted FIN (RFC 9293
  // §3.6) and to keep the 4-tuple's old segments from a new incarnation.
  release_buffers();
  notify_closed(Error::kNone);
  host_.count(net::Counter::tcp_closed);
  arm(TimerMode::kTimeWait, host_.ms_to_ticks(host_.settings().time_wait_ms));
  host_.tw_add(*this);
}

}  // namespace redline::tcp
