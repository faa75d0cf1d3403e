#include "stack/tcp/host.hpp"

#include <algorithm>

namespace redline::tcp {

using net::Counter;
namespace f = wire::tcp;

net::FiveTuple key_of(Endpoint local, Endpoint remote) {
  net::FiveTuple k;
  k.src_ip = net::to_be(remote.ip);
  k.dst_ip = net::to_be(local.ip);
  k.src_port = net::to_be(remote.port);
  k.dst_port = net::to_be(local.port);
  k.protocol = 6;
  return k;
}

Host::Host(Env& env, ConnIndex& index, timer::Wheel& wheel, uint64_t ticks_per_s, const Settings& settings,
           const uint64_t isn_key[2])
    : env_(env),
      index_(index),
      wheel_(wheel),
      ticks_per_s_(ticks_per_s),
      settings_(settings),
      isn_(isn_key[0], isn_key[1]),
      cookies_(isn_key[0], isn_key[1]),
      // Bursts of a tenth of a second's budget: enough for the handful a real peer draws at once.
      challenge_limit_(settings.challenge_ack_rate, std::max<uint32_t>(1, settings.challenge_ack_rate / 10)),
      reset_limit_(settings.reset_rate, std::max<uint32_t>(1, settings.reset_rate / 10)),
      // Nodes: the out-of-order limit and a send/receive queue's worth per connection would be
      // far too many to reserve; blocks are made as needed up to this bound.
      chunks_(size_t(settings.max_connections) * 64 + 65536),
      now_(wheel.now()) {
  rx_buffer_size_ = std::max<uint32_t>(1, env.rx_buffer_size());
}

Host::~Host() {
  for (auto& c : all_) {
    wheel_.cancel(c->timer_);
    wheel_.cancel(c->delack_);
    c->release_buffers();
  }
}

bool Host::listen(uint16_t port, Listener& l, const ConnOptions& opts, uint32_t backlog) {
  if (find_listener(port) || !env_.may_listen(port)) return false;
  l.port_ = port;
  l.backlog_ = backlog ? backlog : settings_.syn_backlog;
  l.half_open_ = 0;
  l.opts_ = opts;
  listeners_.push_back({port, &l});
  return true;
}

void Host::unlisten(uint16_t port) {
  Listener* l = find_listener(port);
  if (!l) return;
  std::erase_if(listeners_, [&](const ListenEntry& e) { return e.port == port; });
  // Its half-open connections would complete into a listener that is gone (or, listened again,
  // into a count that no longer holds them): reset them, as Linux does when a listening socket
  // closes (inet_csk_listen_stop). Established ones already belong to their handlers.
  ++depth_;
  for (const auto& c : all_)
    if (c->in_use_ && c->listener_ == l) {
      c->listener_ = nullptr;
      c->abort();
    }
  l->half_open_ = 0;
  --depth_;
  if (depth_ == 0) reap();
}

Listener* Host::find_listener(uint16_t port) const {
  for (const ListenEntry& e : listeners_)
    if (e.port == port) return e.l;
  return nullptr;
}

Connection* Host::allocate(const ConnOptions& opts) {
  if (in_use_ >= settings_.max_connections) {
    // Room made by ending the oldest TIME-WAIT, if there is one (RFC 6191 §2 notes the cost of
    // keeping them; a bounded table must choose).
    if (!tw_head_) return nullptr;
    Connection* old = tw_head_;
    count(Counter::tcp_time_wait_recycled);
    old->finish(Error::kNone);
  }
  Connection* c = free_;
  if (c) {
    free_ = c->next_free_;
  } else {
    all_.push_back(std::make_unique<Connection>(*this, opts, settings_));
    c = all_.back().get();
  }
  // A fresh control block in place: no state from the previous user survives.
  c->~Connection();
  new (c) Connection(*this, opts, settings_);
  c->in_use_ = true;
  c->rcv_buf_ = opts.recv_buffer ? opts.recv_buffer : settings_.recv_buffer;
  c->snd_buf_ = opts.send_buffer ? opts.send_buffer : settings_.send_buffer;
  if (!opts.keepalive.enabled && settings_.keepalive.enabled) c->opts_.keepalive = settings_.keepalive;
  c->rcv_shift_ = window_shift_for(c->rcv_buf_);
  // Twice the receive buffer in whole buffers: a full window of full-sized segments fits (an
  // mbuf of ~2.3 KB carries up to 1460 bytes), a window of tiny ones does not.
  c->rx_limit_ = std::max<uint32_t>(kRxGuaranteed, uint32_t(2ull * c->rcv_buf_ / rx_buffer_size_));
  ++in_use_;
  return c;
}

uint8_t Host::window_shift_for(uint32_t rcv_buf) const {
  uint8_t shift = 0;
  if (settings_.window_scaling)
    while (shift < f::kMaxWindowShift && (rcv_buf >> shift) > 65535) ++shift;
  return shift;
}

void Host::release_local_port(Connection& c) {
  if (!c.holds_local_port_) return;
  c.holds_local_port_ = false;
  env_.release_local_port(c.local_.ip, c.local_.port);
}

void Host::give_back(Connection& c) {
  release_local_port(c);
  c.in_use_ = false;
  --in_use_;
  c.next_free_ = free_;
  free_ = &c;
}

void Host::retire(Connection& c) {
  if (!c.in_use_) return;
  c.in_use_ = false;
  index_.remove(key_of(c.local_, c.remote_));
  --in_use_;
  c.next_free_ = graveyard_;
  graveyard_ = &c;
  if (depth_ == 0) reap();
}

void Host::reap() {
  while (graveyard_) {
    Connection* c = graveyard_;
    graveyard_ = c->next_free_;
    release_local_port(*c);
    c->release_buffers();
    c->handler_ = nullptr;
    c->next_free_ = free_;
    free_ = c;
  }
}

void Host::want_output(Connection& c) {
  if (c.in_pending_) return;
  c.in_pending_ = true;
  pending_.push_back(&c);
}

void Host::want_buffers(Connection& c) {
  c.was_writable_blocked_ = true;
  if (c.in_starved_) return;
  c.in_starved_ = true;
  starved_.push_back(&c);
}

void Host::retry_starved() {
  // A send that found no buffer may have nothing in flight, so no ACK would ever call
  // on_writable: offer the room again once a millisecond until the pool has buffers.
  if (starved_.empty() || now_ < starved_retry_at_) return;
  starved_retry_at_ = now_ + std::max<uint64_t>(1, ms_to_ticks(1));
  starved_work_.swap(starved_);
  for (Connection* c : starved_work_) {
    c->in_starved_ = false;
    if (!c->in_use_ || !c->was_writable_blocked_ || !c->handler_ || c->send_space() == 0) continue;
    c->was_writable_blocked_ = false;
    c->handler_->on_writable(*c);
  }
  starved_work_.clear();
}

void Host::relieve_rx_pressure() {
  if (now_ < rx_relief_at_) return;
  rx_relief_at_ = now_ + std::max<uint64_t>(1, ms_to_ticks(1));
  count(Counter::tcp_rx_pressure);
  for (const auto& c : all_)
    if (c->in_use_ && c->ooo_) c->prune_ooo();
}

void Host::poll() {
  ++depth_;
  retry_starved();
  // Output that a callback, a full TX path or the per-call limit left for later. A connection
  // put back on the list while it runs is served on the next poll.
  // Two vectors swapped in turn, so neither allocates once both have grown to the load.
  poll_work_.swap(pending_);
  for (Connection* c : poll_work_) {
    c->in_pending_ = false;
    if (c->in_use_) c->output();
  }
  poll_work_.clear();
  --depth_;
  reap();
}

void Host::tw_add(Connection& c) {
  c.tw_prev_ = tw_tail_;
  c.tw_next_ = nullptr;
  if (tw_tail_) tw_tail_->tw_next_ = &c; else tw_head_ = &c;
  tw_tail_ = &c;
  ++time_wait_;
  if (time_wait_ > settings_.time_wait_max) {
    count(Counter::tcp_time_wait_recycled);
    tw_head_->finish(Error::kNone);
  }
}

void Host::tw_remove(Connection& c) {
  if (c.tw_prev_) c.tw_prev_->tw_next_ = c.tw_next_; else tw_head_ = c.tw_next_;
  if (c.tw_next_) c.tw_next_->tw_prev_ = c.tw_prev_; else tw_tail_ = c.tw_prev_;
  c.tw_prev_ = c.tw_next_ = nullptr;
  --time_wait_;
}

uint32_t Host::next_isn(Endpoint local, Endpoint remote) {
  if (isn_override_) {
    const uint32_t iss = *isn_override_;
    isn_override_.reset();
    return iss;
  }
  return isn_.isn(local.ip, local.port, remote.ip, remote.port, ticks_to_us(now_));
}

void Host::reset_for(Endpoint src, Endpoint dst, const f::Header& h, uint32_t seg_len) {
  // RFC 9293 §3.10.7.1: never answer a RST; with ACK, <SEQ=SEG.ACK><CTL=RST>; else
  // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
  if (h.flags & f::kRst) return;
  if (!reset_limit_.allow(ticks_to_us(now_) * 1000)) return count(Counter::tcp_rst_limited);
  SegmentOut r;
  r.src = dst;
  r.dst = src;
  if (h.flags & f::kAck_) r.h = {dst.port, src.port, h.ack, 0, f::kRst, 0};
  else r.h = {dst.port, src.port, 0, h.seq + seg_len, uint8_t(f::kRst | f::kAck_), 0};
  if (env_.send(r)) count(Counter::tcp_rst_sent);
}

bool Host::allow_challenge_ack() {
  if (challenge_limit_.allow(ticks_to_us(now_) * 1000)) return true;
  count(Counter::tcp_challenge_acks_limited);
  return false;
}

bool Host::time_wait_accepts(const Connection& c, const f::Header& h, const f::Options& opt) const {
  // RFC 6191 §2: with timestamps, a SYN whose TSval is above the last one seen; without, one
  // whose sequence number is above RCV.NXT (RFC 1122 §4.2.2.13).
  if (c.ts_ok_ && opt.has_timestamps) return int32_t(opt.ts_val - c.ts_recent_) > 0;
  return TcpSeq(h.seq) > c.rcv_nxt_;
}

bool Host::input(Endpoint src, Endpoint dst, const f::Header& h, const f::Options& opt, const Chunk& payload) {
  return input(nullptr, src, dst, h, opt, payload);
}

bool Host::input(Connection* c, Endpoint src, Endpoint dst, const f::Header& h, const f::Options& opt,
                 const Chunk& payload) {
  ++depth_;
  bool kept = false;
  // A connection found by a lookup made before this burst's earlier segments ran may have ended
  // (or a new one begun) since: look again. Its block may even serve another 4-tuple by now
  // (ended, freed, and taken by a SYN earlier in the same burst), so the tuple is checked too.
  if (!c || !c->in_use_ || c->local_ != dst || c->remote_ != src) c = index_.find(key_of(dst, src));
  if (c && c->state_ == State::kTimeWait && (h.flags & f::kSyn) && !(h.flags & (f::kAck_ | f::kRst)) &&
      find_listener(dst.port) && time_wait_accepts(*c, h, opt)) {
    count(Counter::tcp_time_wait_reused);
    c->finish(Error::kNone);
    c = nullptr;
  }
  if (c) {
    count(Counter::tcp_segs_in);
    kept = c->input(h, opt, payload);
  } else if ((h.flags & (f::kSyn | f::kAck_ | f::kRst)) == f::kSyn) {
    Listener* l = find_listener(dst.port);
    if (l) {
      count(Counter::tcp_segs_in);
      passive_open(*l, src, dst, h, opt);
    } else {
      count(Counter::tcp_no_listener);
      reset_for(src, dst, h, payload.len + 1);
    }
  } else {
    // An ACK for no connection may complete a handshake whose SYN-ACK carried a cookie; only
    // looked at while the listener has sent cookies recently, as Linux does, so a stray ACK
    // costs no hash otherwise.
    Listener* l = (h.flags & (f::kSyn | f::kAck_ | f::kRst)) == f::kAck_ ? find_listener(dst.port) : nullptr;
    if (!(l && now_ < l->cookies_until_ && cookie_open(*l, src, dst, h, opt, payload, &kept))) {
      count(Counter::tcp_no_listener);
      reset_for(src, dst, h, payload.len + ((h.flags & f::kSyn) ? 1 : 0) + ((h.flags & f::kFin) ? 1 : 0));
    }
  }
  --depth_;
  if (depth_ == 0) reap();
  return kept;
}

bool Host::passive_open(Listener& l, Endpoint src, Endpoint dst, const f::Header& h, const f::Options& opt) {
  // RFC 9293 §3.10.7.2, LISTEN: a SYN makes a connection in SYN-RECEIVED and draws a SYN-ACK.
  if (l.half_open_ >= l.backlog_) {
    count(Counter::tcp_backlog_full);
    if (settings_.syn_cookies) send_cookie(l, src, dst, h, opt);
    return false;
  }
  uint16_t mss = 0;
  Endpoint via = env_.route(src.ip, &mss);
  if (via.ip == 0) return false;
  Connection* c = allocate(l.opts_);
  if (!c) {
    count(Counter::tcp_table_full);
    return false;
  }
  c->start_passive(dst, src, next_isn(dst, src), mss, h, opt);
  if (!index_.add(key_of(dst, src), c)) {
    count(Counter::tcp_table_full);
    give_back(*c);
    return false;
  }
  c->listener_ = &l;
  ++l.half_open_;
  c->send_syn();
  return true;
}

void Host::send_cookie(Listener& l, Endpoint src, Endpoint dst, const f::Header& h, const f::Options& opt) {
  uint16_t our_mss = 0;
  if (env_.route(src.ip, &our_mss).ip == 0) return;
  uint16_t peer_mss = 0;
  const uint32_t iss = cookies_.make(dst, src, h.seq, opt.mss && *opt.mss ? *opt.mss : kDefaultMss,
                                     cookie_period(), &peer_mss);
  // The SYN-ACK send_syn would send, from no connection. Window scaling and SACK survive only in
  // the timestamp (syn_cookie.hpp), so without timestamps they are not offered.
  const uint32_t rcv_buf = l.opts_.recv_buffer ? l.opts_.recv_buffer : settings_.recv_buffer;
  const bool ts = settings_.timestamps && opt.has_timestamps;
  const bool ws = ts && settings_.window_scaling && opt.window_shift.has_value();
  const bool sack = ts && settings_.sack && opt.sack_permitted;
  SegmentOut r;
  r.src = dst;
  r.dst = src;
  r.opt.mss = our_mss;
  if (ws) r.opt.window_shift = window_shift_for(rcv_buf);
  r.opt.sack_permitted = sack;
  if (ts) {
    r.opt.has_timestamps = true;
    r.opt.ts_val = SynCookies::encode_ts(now_ms() + isn_.ts_offset(dst.ip, src.ip),
                                         ws ? opt.window_shift : std::nullopt, sack);
    r.opt.ts_ecr = opt.ts_val;
  }
  r.h = {dst.port, src.port, iss, h.seq + 1, uint8_t(f::kSyn | f::kAck_), uint16_t(std::min<uint32_t>(rcv_buf, 65535))};
  if (!env_.send(r)) return count(Counter::tcp_no_buffer);
  count(Counter::tcp_segs_out);
  count(Counter::tcp_syncookies_sent);
  l.cookies_until_ = now_ + (kCookieMaxAge + 1) * kCookiePeriodS * ticks_per_s_;
}

bool Host::cookie_open(Listener& l, Endpoint src, Endpoint dst, const f::Header& h, const f::Options& opt,
                       const Chunk& payload, bool* kept) {
  const uint32_t peer_isn = h.seq - 1, iss = h.ack - 1;
  const std::optional<uint16_t> peer_mss = cookies_.check(dst, src, peer_isn, iss, cookie_period());
  if (!peer_mss) {
    count(Counter::tcp_syncookies_failed);
    return false;
  }
  // The SYN as the cookie remembers it; the connection then takes the ACK in SYN-RECEIVED, as if
  // it had sent the SYN-ACK itself.
  f::Options syn;
  syn.mss = *peer_mss;
  if (settings_.timestamps && opt.has_timestamps) {
    CookieOptions co;
    SynCookies::decode_ts(opt.ts_ecr, &co);
    syn.window_shift = co.window_shift;
    syn.sack_permitted = co.sack_permitted;
    syn.has_timestamps = true;
    syn.ts_val = opt.ts_val;
  }
  uint16_t our_mss = 0;
  if (env_.route(src.ip, &our_mss).ip == 0) return false;
  Connection* c = allocate(l.opts_);
  if (!c) {
    count(Counter::tcp_table_full);
    return true;  // a valid cookie: no RST, the peer's retransmission may find room
  }
  c->start_passive(dst, src, iss, our_mss, {src.port, dst.port, peer_isn, 0, f::kSyn, h.window}, syn);
  if (!index_.add(key_of(dst, src), c)) {
    count(Counter::tcp_table_full);
    give_back(*c);
    return true;
  }
  c->listener_ = &l;
  ++l.half_open_;  // taken back as the ACK completes the handshake, in input() just below
  c->snd_nxt_ = c->snd_max_ = c->iss_ + 1;
  c->rcv_adv_ = c->rcv_nxt_ + std::min<uint32_t>(c->rcv_buf_, 65535);
  count(Counter::tcp_syncookies_accepted);
  count(Counter::tcp_segs_in);
  *kept = c->input(h, opt, payload);
  return true;
}

void Connection::start_passive(Endpoint local, Endpoint remote, uint32_t iss, uint16_t mss, const f::Header& syn,
                               const f::Options& opt) {
  local_ = local;
  remote_ = remote;
  state_ = State::kSynReceived;
  iss_ = snd_una_ = snd_nxt_ = snd_max_ = TcpSeq(iss);
  recover_ = high_rxt_ = iss_;
  irs_ = TcpSeq(syn.seq);
  rcv_nxt_ = rcv_adv_ = irs_ + 1;
  last_ack_sent_ = rcv_nxt_;
  our_mss_ = mss;
  ts_offset_ = host_.isn_.ts_offset(local.ip, remote.ip);  // RFC 7323 §5.4: a secret TSval offset
  negotiate(opt, mss);
  snd_wnd_ = syn.window;  // RFC 7323 §2.2: the SYN's window is not scaled
  max_snd_wnd_ = snd_wnd_;
  snd_wl1_ = irs_;
  snd_wl2_ = iss_;
  last_heard_ = host_.now();
}

void Connection::start_active(Endpoint local, Endpoint remote, uint32_t iss, uint16_t mss) {
  local_ = local;
  remote_ = remote;
  state_ = State::kSynSent;
  iss_ = snd_una_ = snd_nxt_ = snd_max_ = TcpSeq(iss);
  recover_ = high_rxt_ = iss_;
  our_mss_ = mss;
  mss_ = std::max<uint16_t>(kMinSendMss, std::min(mss, kDefaultMss));
  ts_offset_ = host_.isn_.ts_offset(local.ip, remote.ip);
  last_heard_ = host_.now();
}

Connection* Host::connect(Endpoint remote, Handler& handler, const ConnOptions& opts) {
  ++depth_;
  Connection* result = nullptr;
  uint16_t mss = 0;
  const Endpoint via = env_.route(remote.ip, &mss);
  do {
    if (via.ip == 0) break;
    // A local port whose replies reach this worker, that no listener and no connection of ours
    // to this remote uses.
    const uint16_t port = env_.take_local_port(via.ip, remote, [&](uint16_t p) {
      return !find_listener(p) && !index_.find(key_of({via.ip, p}, remote));
    });
    if (!port) break;
    Connection* c = allocate(opts);
    if (!c) {
      env_.release_local_port(via.ip, port);
      break;
    }
    c->holds_local_port_ = true;
    const Endpoint local{via.ip, port};
    c->start_active(local, remote, next_isn(local, remote), mss);
    if (!index_.add(key_of(local, remote), c)) {
      give_back(*c);
      break;
    }
    c->handler_ = &handler;
    c->send_syn();
    result = c;
  } while (false);
  if (!result) count(Counter::tcp_connect_failed);
  --depth_;
  if (depth_ == 0) reap();
  return result;
}

bool Host::icmp_error(Endpoint local, Endpoint remote, uint32_t seq, uint8_t type, uint8_t code, uint16_t mtu) {
  Connection* c = index_.find(key_of(local, remote));
  if (!c) return false;
  ++depth_;
  c->on_icmp_error(seq, type, code, mtu);
  --depth_;
  if (depth_ == 0) reap();
  return true;
}

}  // namespace redline::tcp
