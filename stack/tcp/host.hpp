// The TCP of one worker: its listeners, its connections, the demultiplexing of segments to
// them, RST for segments nobody owns, TIME-WAIT bookkeeping, and connect's choice of a local
// port. Pure: it reaches packet buffers, the wire and routing only through an Env, and time
// through the worker's timer wheel, so unit tests run two hosts over an in-memory link with a
// fake clock (tests/unit/tcp_link.hpp).
//
// The connection table: lookups by 4-tuple go through a ConnIndex. In redline that is a
// FlowTable (rte_hash with lock-free readers, so the control thread lists and counts while
// the worker runs; tcp_stage.cpp), which the stage also looks up in bulk per burst before
// calling input(); tests use a std::unordered_map.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stack/net/counters.hpp"
#include "stack/net/five_tuple.hpp"
#include "stack/net/rate_limiter.hpp"
#include "stack/tcp/connection.hpp"
#include "stack/tcp/isn.hpp"
#include "stack/tcp/syn_cookie.hpp"

namespace redline::tcp {

// A segment to send. Its payload, when len > 0, is bytes [offset, offset + len) of conn's send
// queue counted from the data at SND.UNA: the Env copies it with Connection::copy_payload, or
// sends the buffer that holds it (Connection::payload_in_one_chunk) with the headers in front.
struct SegmentOut {
  Endpoint src, dst;
  wire::tcp::Header h;
  wire::tcp::Options opt;
  const Connection* conn = nullptr;
  uint32_t offset = 0;
  uint32_t len = 0;
};

// What the host needs from its surroundings: redline's mbufs, routing and TX (tcp_stage.cpp),
// or a test link.
class Env {
 public:
  virtual ~Env() = default;
  // Builds and sends one segment; false when there is no buffer or TX room now (the
  // connection tries again on the next poll).
  virtual bool send(const SegmentOut& s) = 0;
  // A buffer to copy application bytes into: room as large as is convenient (at least 1 byte),
  // or {owner = null} when none is left.
  virtual Chunk alloc() = 0;
  // One more reference to a buffer (a second queue holds bytes of it); each is dropped by one
  // release.
  virtual void retain(void* owner) = 0;
  virtual void release(void* owner) = 0;
  // The source address and MSS (from the egress MTU) for reaching `remote`; ip 0 when there is
  // no route.
  virtual Endpoint route(uint32_t remote_ip, uint16_t* mss) = 0;
  // A local port on `local_ip` for a connection to `remote`, taken from the worker's port
  // registry (endpoint/local_ports.hpp: TCP's ephemeral ports there, none a fixed claim of
  // another part holds), whose replies reach this worker (RSS steering) and that `usable`
  // accepts; 0 when none is left. Each port taken is given back by one release_local_port.
  virtual uint16_t take_local_port(uint32_t local_ip, Endpoint remote, const std::function<bool(uint16_t)>& usable) = 0;
  virtual void release_local_port(uint32_t local_ip, uint16_t port) = 0;
  // Whether a listener may take `port` on every address: false when another part of redline
  // holds it (the NAT's outside ports, a kernel pass rule); the Env counts the refusal.
  virtual bool may_listen(uint16_t port) { (void)port; return true; }
  virtual void count(net::Counter c, uint64_t n = 1) = 0;
  // The memory one received buffer takes, whatever it carries (an mbuf's whole element).
  virtual uint32_t rx_buffer_size() const { return 2048; }
};

// Lookups by connection key. The key is the tuple as segments arrive: src = remote, dst = local,
// network byte order, protocol 6.
class ConnIndex {
 public:
  virtual ~ConnIndex() = default;
  virtual Connection* find(const net::FiveTuple& k) const = 0;
  virtual bool add(const net::FiveTuple& k, Connection* c) = 0;
  virtual void remove(const net::FiveTuple& k) = 0;
};

net::FiveTuple key_of(Endpoint local, Endpoint remote);

// A passive open (RFC 9293 §3.5): accepts connections to a port on any of our addresses.
class Listener {
 public:
  virtual ~Listener() = default;
  // A handshake completed: the handler for the new connection, or null to refuse it (RST).
  virtual Handler* on_accept(Connection& c) = 0;

 private:
  friend class Host;
  friend class Connection;
  uint16_t port_ = 0;
  uint32_t backlog_ = 0, half_open_ = 0;
  uint64_t cookies_until_ = 0;  // tick until which an ACK to no connection may carry a cookie
  ConnOptions opts_;
};

struct HostStats {
  uint32_t connections = 0;  // in use, every state
  uint32_t time_wait = 0;
  uint32_t listeners = 0;
  uint32_t rx_buffers = 0;   // received buffers held by connections (in order and out of order)
  uint32_t tx_buffers = 0;   // buffers in connections' send queues (Settings::tx_mbufs)
};

class Host {
 public:
  // `ticks_per_s`: the wheel's tick rate. `isn_key`: 128 secret bits (RFC 6528).
  Host(Env& env, ConnIndex& index, timer::Wheel& wheel, uint64_t ticks_per_s, const Settings& settings,
       const uint64_t isn_key[2]);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Listens on `port` (every local address); false if the port already has a listener or
  // another part of redline holds it (Env::may_listen).
  bool listen(uint16_t port, Listener& l, const ConnOptions& opts = {}, uint32_t backlog = 0);
  void unlisten(uint16_t port);
  bool listening(uint16_t port) const { return find_listener(port) != nullptr; }
  // Active open to remote: a local port is chosen so replies reach this worker (Env::take_local_port).
  // Null when there is no route, no port or no room; `handler` then gets no call.
  Connection* connect(Endpoint remote, Handler& handler, const ConnOptions& opts = {});

  // A segment arrived for local address `dst`. `c` is the connection its key found (null: the
  // host looks for a listener, a TIME-WAIT reuse, or answers RST). Returns true when the
  // payload's owner was kept; otherwise the caller releases it.
  bool input(Connection* c, Endpoint src, Endpoint dst, const wire::tcp::Header& h, const wire::tcp::Options& opt,
             const Chunk& payload);
  // Looks the connection up by its key first (tests, cold paths).
  bool input(Endpoint src, Endpoint dst, const wire::tcp::Header& h, const wire::tcp::Options& opt,
             const Chunk& payload);
  // An ICMP error (RFC 792) about a segment this host sent from `local` to `remote` carrying
  // sequence number `seq`: destination unreachable (`type` 3) with its `code`, and for
  // "fragmentation needed" the next-hop MTU (RFC 1191; 0 if the router gave none). Validated
  // against the connection's sequence space (RFC 5927 §4.1) before it counts.
  // True if a connection of this host matched (else it may be another stack's, the kernel's).
  bool icmp_error(Endpoint local, Endpoint remote, uint32_t seq, uint8_t type, uint8_t code, uint16_t mtu);
  // Sends what connections could not send earlier (no buffer, per-call limit); frees
  // connections that ended. Call once per loop iteration, after the timer wheel.
  void poll();
  // Set by the owner every iteration (the wheel's clock, in ticks).
  void set_now(uint64_t tick) { now_ = tick; }
  // Test hook: the next connection opened (connect, or a SYN to a listener) takes `iss` as its
  // initial send sequence number instead of RFC 6528's, once. Tests use it to start transfers
  // just below 2^32; nothing else calls it.
  void set_next_isn(uint32_t iss) { isn_override_ = iss; }

  uint64_t now() const { return now_; }
  uint64_t ms_to_ticks(uint64_t ms) const { return (ms * ticks_per_s_ + 999) / 1000; }
  uint64_t us_to_ticks(uint64_t us) const { return (us * ticks_per_s_ + 999'999) / 1'000'000; }
  uint64_t ticks_to_us(uint64_t t) const { return t * 1'000'000 / ticks_per_s_; }
  uint32_t now_ms() const { return uint32_t(now_ * 1000 / ticks_per_s_); }
  const Settings& settings() const { return settings_; }
  Env& env() { return env_; }
  timer::Wheel& wheel() { return wheel_; }
  ChunkPool& chunks() { return chunks_; }
  HostStats stats() const { return {in_use_, time_wait_, uint32_t(listeners_.size()), rx_held_, tx_held_}; }
  // Whether a connection holding `held` received buffers (its limit `limit`) may take one more.
  // Counts nothing: the caller says why it refused.
  // rx_mbufs is a hard bound; its last eighth is kept for connections holding fewer than
  // kRxGuaranteed (Linux's tcp_rmem[0] under tcp_mem pressure), so hoarders that fill the rest
  // cannot stop a new or small connection from making progress.
  bool rx_admits(uint32_t held, uint32_t limit) const {
    if (rx_held_ >= settings_.rx_mbufs) return false;
    if (held < kRxGuaranteed) return true;
    return held < limit && rx_held_ < settings_.rx_mbufs - settings_.rx_mbufs / 8;
  }
  // Buffers a connection may hold while the worker is under pressure.
  static constexpr uint32_t kRxGuaranteed = 4;
  // Whether a connection holding `queued` send buffers may queue one more (tx_mbufs, as
  // rx_admits: the last eighth for connections holding fewer than kTxGuaranteed). Counts the
  // refusal.
  bool tx_admits(uint32_t queued) {
    if (tx_held_ < settings_.tx_mbufs && (queued < kTxGuaranteed || tx_held_ < settings_.tx_mbufs - settings_.tx_mbufs / 8))
      return true;
    count(net::Counter::tcp_tx_mem_refused);
    return false;
  }
  static constexpr uint32_t kTxGuaranteed = 4;
  // Every connection in use (the control thread's dump goes through the index instead).
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& c : all_)
      if (c->in_use_) f(*c);
  }
  void count(net::Counter c, uint64_t n = 1) { env_.count(c, n); }
  // Whether a challenge ACK (RFC 5961 §3.2, §4.2, §5.2) may go now: the worker's budget of
  // Settings::challenge_ack_rate per second (RFC 5961 §7). Counts the ones held back.
  bool allow_challenge_ack();

 private:
  friend class Connection;
  struct ListenEntry {
    uint16_t port;
    Listener* l;
  };
  Listener* find_listener(uint16_t port) const;
  Connection* allocate(const ConnOptions& opts);
  // RFC 9293 §3.10.7.1: the answer to a segment for no connection.
  void reset_for(Endpoint src, Endpoint dst, const wire::tcp::Header& h, uint32_t seg_len);
  bool passive_open(Listener& l, Endpoint src, Endpoint dst, const wire::tcp::Header& h, const wire::tcp::Options& opt);
  // SYN cookies (syn_cookie.hpp): a SYN-ACK that keeps no state, for a listener whose half-open
  // queue is full; and the connection made from the ACK that returns one. cookie_open returns
  // false (nothing done) when the ACK carries no valid cookie.
  void send_cookie(Listener& l, Endpoint src, Endpoint dst, const wire::tcp::Header& h, const wire::tcp::Options& opt);
  bool cookie_open(Listener& l, Endpoint src, Endpoint dst, const wire::tcp::Header& h, const wire::tcp::Options& opt,
                   const Chunk& payload, bool* kept);
  uint64_t cookie_period() const { return now_ / ticks_per_s_ / kCookiePeriodS; }
  // RFC 7323 §2.3: the smallest shift that lets the window cover a receive buffer.
  uint8_t window_shift_for(uint32_t rcv_buf) const;
  // RFC 6191: a SYN for a connection in TIME-WAIT may start a new one.
  bool time_wait_accepts(const Connection& c, const wire::tcp::Header& h, const wire::tcp::Options& opt) const;
  // A connection allocate() made but the index never took: straight back to the free list.
  void give_back(Connection& c);
  // Gives a connect's local port back to the Env (once).
  void release_local_port(Connection& c);
  // The connection leaves the index and is freed at the next reap.
  void retire(Connection& c);
  void reap();
  void want_output(Connection& c);
  // `c` could not get a buffer (or a chunk node) for what its application sent: on_writable is
  // offered again from poll() (retry_starved), since no ACK may be coming to offer it.
  void want_buffers(Connection& c);
  // The worker's receive memory is spent: every connection's out-of-order data is freed, at
  // most once a millisecond (a walk over the connections).
  void relieve_rx_pressure();
  void retry_starved();
  void tw_add(Connection& c);
  void tw_remove(Connection& c);
  uint32_t next_isn(Endpoint local, Endpoint remote);

  Env& env_;
  ConnIndex& index_;
  timer::Wheel& wheel_;
  uint64_t ticks_per_s_;
  Settings settings_;
  IsnGenerator isn_;
  SynCookies cookies_;
  net::RateLimiter challenge_limit_, reset_limit_;
  ChunkPool chunks_;
  uint64_t now_ = 0;
  std::vector<ListenEntry> listeners_;
  std::vector<std::unique_ptr<Connection>> all_;
  Connection* free_ = nullptr;
  Connection* graveyard_ = nullptr;
  std::vector<Connection*> pending_;  // output waiting
  std::vector<Connection*> poll_work_;  // poll()'s copy of pending_
  std::vector<Connection*> starved_, starved_work_;  // want_buffers
  uint64_t starved_retry_at_ = 0;
  Connection* tw_head_ = nullptr;     // TIME-WAIT, oldest first
  Connection* tw_tail_ = nullptr;
  uint32_t in_use_ = 0, time_wait_ = 0;
  uint32_t rx_held_ = 0;  // received buffers held by all connections (HostStats::rx_buffers)
  uint32_t tx_held_ = 0;  // buffers in all connections' send queues (HostStats::tx_buffers)
  uint32_t rx_buffer_size_ = 2048;
  uint64_t rx_relief_at_ = 0;
  std::optional<uint32_t> isn_override_;  // set_next_isn
  int depth_ = 0;  // nesting of host entry points: connections are freed only at depth 0
};

}  // namespace redline::tcp
