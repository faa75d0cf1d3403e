// One TCP connection: the transmission control block (RFC 9293 §3.3.1) and the application's
// view of it. The state machine lives in connection_input.cpp (segment arrival, RFC 9293
// §3.10.7), connection_output.cpp (what to send, RFC 9293 §3.8, RFC 5681, RFC 6582, RFC 6675)
// and connection_timers.cpp (retransmission, persist, keepalive, delayed ACK, TIME-WAIT).
//
// Ownership: a connection belongs to one worker's Host and is touched by that core only; the
// application runs in the same core's loop, so nothing here is atomic or locked.
#pragma once

#include <cstdint>
#include <span>

#include "stack/net/tcp_seq.hpp"
#include "stack/tcp/chunk.hpp"
#include "stack/tcp/cubic.hpp"
#include "stack/tcp/rtt.hpp"
#include "stack/tcp/settings.hpp"
#include "stack/timer/timer_wheel.hpp"
#include "stack/wire/tcp.hpp"

namespace redline::tcp {

class Host;
class Connection;
class Listener;

using net::TcpSeq;

enum class State : uint8_t {
  kClosed,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};
const char* state_name(State s);

// Why a connection ended, given to Handler::on_closed.
enum class Error : uint8_t {
  kNone,         // closed in order (both FINs exchanged)
  kReset,        // the peer sent RST
  kRefused,      // RST in answer to our SYN
  kTimeout,      // retransmissions, SYN retries or keepalive probes went unanswered
  kUnreachable,  // ICMP destination unreachable while connecting
  kAborted,      // this side aborted (abort(), or a close with unread data)
};
const char* error_name(Error e);

// The application's side of a connection. Every call runs on the connection's worker, inside
// its loop; a handler may call any Connection method from any callback, close and abort
// included. After on_closed the connection must not be touched again.
class Handler {
 public:
  virtual ~Handler() = default;
  // The handshake completed (connect), or the connection was accepted.
  virtual void on_connected(Connection&) {}
  // In-order bytes are waiting: read them with Connection::read and take them with consume;
  // what is not consumed stays (and shrinks the window the peer sees).
  virtual void on_data(Connection&) {}
  // Room in the send buffer again after a send() accepted less than it was offered.
  virtual void on_writable(Connection&) {}
  // The peer sent FIN: no more data will arrive (the half-close of RFC 9293 §3.6).
  virtual void on_peer_closed(Connection&) {}
  // The connection is gone for the application (TIME-WAIT may continue inside the host).
  virtual void on_closed(Connection&, Error) {}
};

struct Endpoint {
  uint32_t ip = 0;    // host order
  uint16_t port = 0;  // host order
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct ConnStats {
  uint64_t segs_in = 0, segs_out = 0, bytes_in = 0, bytes_out = 0;
  uint32_t retransmits = 0, fast_retransmits = 0, timeouts = 0;
};

class Connection {
 public:
  // --- sending ---
  // Copies up to `len` bytes into the send buffer; returns how many it took (less than `len`
  // when the buffer is full: on_writable follows once there is room). 0 after shutdown/close.
  size_t send(const void* data, size_t len);
  // Queues `c` without copying (its owner is released through the host's Env once acknowledged).
  // False (and `c` still the caller's) when the buffer is full or the connection cannot send.
  bool send_chunk(const Chunk& c);
  // Moves up to `n` of the bytes `from` received (its readable bytes, from the front) into this
  // connection's send queue without copying them: the buffers they arrived in are queued here
  // and consumed there, as read + send + consume would (`from` may be this connection: an
  // echo). Returns how many bytes it moved: whole received chunks while send_space() holds them
  // (a chunk is split only where `n` ends), so it may move less than there is room for; the
  // rest waits for on_writable. Both connections are on this worker, as every connection an
  // application sees.
  size_t send_received(Connection& from, size_t n);
  // Bytes send() would take now.
  size_t send_space() const;
  // --- receiving (zero copy: views into the received packet buffers) ---
  // Bytes waiting to be consumed.
  size_t readable() const { return rcvq_.bytes() - rcv_head_off_; }
  // Calls f(std::span<const uint8_t>) for each waiting run of bytes, in order, until f returns
  // false. The views stay valid until consume() takes their bytes or the connection closes.
  template <typename F>
  void read(F&& f) const {
    uint32_t skip = rcv_head_off_;
    for (ChunkNode* n = rcvq_.head(); n; n = n->next) {
      if (!f(std::span<const uint8_t>(n->c.data + skip, n->c.len - skip))) return;
      skip = 0;
    }
  }
  // Takes `n` bytes (at most readable()), reopening the receive window by as much.
  void consume(size_t n);
  // Copies up to `max` waiting bytes to `out` and consumes them; returns the count.
  size_t read_copy(void* out, size_t max);
  // --- ending ---
  // No more data from this side: FIN follows the queued data (half-close). Data still arrives.
  void shutdown();
  // shutdown(), and the application is done with the connection: on_closed follows when the
  // exchange ends. With unread data it aborts instead (RFC 2525 §2.17, as Linux does).
  void close();
  // RST now; on_closed(kAborted) follows at once.
  void abort();
  // --- options ---
  void set_nodelay(bool on) { opts_.nodelay = on; }
  // Keepalive (RFC 1122 §4.2.3.6): probes after `idle_s` without traffic.
  void set_keepalive(const Keepalive& k);
  void set_handler(Handler* h) { handler_ = h; }
  Handler* handler() const { return handler_; }
  void* user = nullptr;  // the application's, untouched by the stack

  // --- state, for applications, tests and `show connections` ---
  State state() const { return state_; }
  Endpoint local() const { return local_; }
  Endpoint remote() const { return remote_; }
  uint16_t mss() const { return mss_; }
  uint8_t send_shift() const { return snd_shift_; }
  uint8_t recv_shift() const { return rcv_shift_; }
  bool sack_enabled() const { return sack_ok_; }
  bool timestamps_enabled() const { return ts_ok_; }
  uint32_t cwnd() const { return cwnd_; }
  uint32_t ssthresh() const { return ssthresh_; }
  uint32_t send_window() const { return snd_wnd_; }
  uint32_t srtt_us() const { return rtt_.srtt_us(); }
  uint32_t rto_us() const { return rtt_.rto_us(); }
  bool in_recovery() const { return in_recovery_; }
  uint32_t unacked() const { return uint32_t(snd_max_ - snd_una_); }
  uint32_t send_queued() const { return sndq_.bytes(); }
  const ConnStats& stats() const { return stats_; }
  TcpSeq snd_una() const { return snd_una_; }
  TcpSeq snd_nxt() const { return snd_nxt_; }
  TcpSeq rcv_nxt() const { return rcv_nxt_; }
  uint32_t ooo_segments() const { return ooo_count_; }
  // The receive window the peer holds now (RCV.ADV - RCV.NXT), for listings.
  uint32_t offered_window() const { return rcv_adv_ > rcv_nxt_ ? uint32_t(rcv_adv_ - rcv_nxt_) : 0; }
  const Host& host() const { return host_; }

  // Copies `len` bytes of the send queue, from `offset` bytes after SND.UNA's data, to `out`
  // (the Env fills a segment's payload with this).
  void copy_payload(uint32_t offset, uint32_t len, uint8_t* out) const;
  // The send-queue chunk whose data starts exactly `offset` bytes after SND.UNA's data and holds
  // at least `len` bytes: a segment's payload that lies in one buffer, so the Env may write the
  // headers in front of it and send the buffer itself (zero-copy send). Null otherwise.
  const Chunk* payload_in_one_chunk(uint32_t offset, uint32_t len) const;

  Connection(Host& host, const ConnOptions& opts, const Settings& s);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

 private:
  friend class Host;
  enum class TimerMode : uint8_t { kNone, kProbe, kRetransmit, kPersist, kKeepalive, kTimeWait, kFinWait2 };
  struct SackRange {
    TcpSeq left, right;
  };
  static constexpr int kScoreboard = 8;

  // --- opening (host.cpp) ---
  void start_active(Endpoint local, Endpoint remote, uint32_t iss, uint16_t mss);
  void start_passive(Endpoint local, Endpoint remote, uint32_t iss, uint16_t mss, const wire::tcp::Header& syn,
                     const wire::tcp::Options& opt);
  // --- input (connection_input.cpp) ---
  // Returns true when the payload's owner was kept (queued); the caller frees it otherwise.
  bool input(const wire::tcp::Header& h, const wire::tcp::Options& opt, const Chunk& payload);
  bool input_syn_sent(const wire::tcp::Header& h, const wire::tcp::Options& opt);
  bool acceptable(TcpSeq seq, uint32_t seg_len) const;
  // Whether an ACK answering an out-of-window or PAWS-rejected segment may go now.
  bool allow_invalid_ack();
  // False when the segment must be dropped, text and all (an unacceptable ACK, RFC 5961 §5.2).
  bool process_ack(const wire::tcp::Header& h, const wire::tcp::Options& opt, uint32_t seg_len);
  void on_new_ack(TcpSeq ack, const wire::tcp::Options& opt);
  void on_dup_ack();
  // The slow-start threshold after a loss (RFC 5681 eq. 4, or CUBIC's β, RFC 9438 §4.6).
  uint32_t ssthresh_after_loss();
  // True when the blocks SACKed data not SACKed before.
  bool update_scoreboard(const wire::tcp::Options& opt);
  bool queue_payload(TcpSeq seq, const Chunk& payload, bool* ack_now);
  // Receive memory (Settings::rx_mbufs): whether one more received buffer may be held, after
  // pruning out-of-order data if need be; counts the refusal.
  bool rx_room();
  void prune_ooo();
  uint32_t rx_held() const { return rcvq_.count() + ooo_count_; }
  void pull_ooo();
  void on_fin(TcpSeq fin_seq);
  void negotiate(const wire::tcp::Options& opt, uint16_t our_mss);
  void take_rtt_sample(const wire::tcp::Options& opt, TcpSeq ack);
  // RFC 1122 §4.2.3.9, RFC 1191 §6, RFC 5927 (connection_input.cpp).
  void on_icmp_error(uint32_t seq, uint8_t type, uint8_t code, uint16_t mtu);
  // --- output (connection_output.cpp) ---
  void output();
  // One segment at `seq` with `len` payload bytes and `flags`; false if the Env had no room.
  bool send_segment(TcpSeq seq, uint32_t len, uint8_t flags);
  void send_ack() { send_segment(ack_seq(), 0, wire::tcp::kAck_); }
  // The sequence number a bare ACK carries. Not SND.NXT: a retransmission timeout pulls that
  // back to SND.UNA (go-back-N), and the peer, which may hold everything up to SND.MAX, would
  // take an ACK at SND.NXT for an old duplicate and drop it unread, ACK field and all (RFC 9293
  // §3.10.7.4); if it does the same to ours, both sides retransmit what the other has and
  // neither learns that it has it. So SND.MAX, as BSD sends, but never past the peer's window
  // (Linux's tcp_acceptable_seq).
  TcpSeq ack_seq() const;
  void send_syn();
  void send_rst();
  // A bare RST at `seq`: the answer to an unacceptable ACK (RFC 9293 §3.10.7.3, §3.10.7.4).
  void send_rst_at(uint32_t seq);
  uint16_t window_to_advertise();
  // The send-queue node holding the byte `offset` bytes after SND.UNA's data, and that byte's
  // index in it (*skip); null past the end. Starts from the cursor of the previous call.
  ChunkNode* seek(uint32_t offset, uint32_t* skip) const;
  // The length for a segment of up to `len` bytes starting at `seq`: with zero-copy send, cut at
  // the end of the send-queue chunk it starts in where that lets it, or the segments after it,
  // go out in place; otherwise `len`.
  uint32_t fit_to_chunk(TcpSeq seq, uint32_t len) const;
  // SACK blocks for a segment carrying `payload` bytes: as many as fit in the MSS beside it.
  void fill_sack(wire::tcp::Options& o, uint32_t payload) const;
  uint32_t pipe() const;
  bool next_hole(TcpSeq* seq, uint32_t* len) const;
  TcpSeq data_start() const { return snd_una_ + (syn_unacked() ? 1 : 0); }
  bool syn_unacked() const { return snd_una_ == iss_; }
  uint32_t flight() const { return uint32_t(snd_max_ - snd_una_); }
  // --- timers (connection_timers.cpp) ---
  void arm(TimerMode mode, uint64_t ticks);
  void disarm();
  void arm_rto();
  // The tail loss probe's timer where RFC 8985 §7.2 allows one, else the RTO.
  void arm_loss_timer();
  void probe_timeout();
  void arm_idle();
  void schedule_delack();
  static void on_timer(timer::Timer& t, void* ctx);
  static void on_delack(timer::Timer& t, void* ctx);
  void retransmit_timeout();
  void persist_timeout();
  void keepalive_timeout();
  // --- ending ---
  void enter_time_wait();
  // Ends the connection for the application and the host (timers off, buffers released).
  void finish(Error e);
  void notify_closed(Error e);
  void release_buffers();

  Host& host_;
  Handler* handler_ = nullptr;
  Listener* listener_ = nullptr;  // while in SYN-RECEIVED from a passive open
  ConnOptions opts_;
  Endpoint local_, remote_;
  State state_ = State::kClosed;
  // Send sequence space (RFC 9293 §3.3.1). snd_max_: the highest sequence sent, snd_nxt_ is
  // pulled back to SND.UNA by a retransmission timeout and climbs to it again.
  TcpSeq iss_, snd_una_, snd_nxt_, snd_max_, snd_wl1_, snd_wl2_;
  uint32_t snd_wnd_ = 0, max_snd_wnd_ = 0;
  // Receive sequence space; rcv_adv_: the right edge of the window last advertised.
  TcpSeq irs_, rcv_nxt_, rcv_adv_;
  uint8_t snd_shift_ = 0, rcv_shift_ = 0;
  uint16_t mss_ = kDefaultMss;      // what we send: the peer's MSS, capped by ours (RFC 9293 §3.7.1)
  uint16_t our_mss_ = kDefaultMss;  // what we advertised
  bool sack_ok_ = false, ts_ok_ = false, ws_ok_ = false;
  bool fin_sent_ = false;      // a FIN has gone out (at fin_seq_)
  TcpSeq fin_seq_;
  bool fin_queued_ = false;    // shutdown(): FIN after the queued data
  bool app_closed_ = false;    // close(): the application is done
  bool closed_notified_ = false;
  bool peer_fin_ = false;      // the peer's FIN is in (rcv_nxt covers it)
  bool ooo_fin_ = false;       // a FIN seen beyond a hole, at ooo_fin_seq_
  bool ack_pending_ = false;   // an ACK is owed (delayed)
  bool ack_now_ = false;       // an ACK is owed at once
  bool in_recovery_ = false;
  bool tlp_sent_ = false;      // a tail loss probe is out, not yet answered by a new ACK
  bool soft_error_ = false;    // an ICMP unreachable arrived: a later timeout is reported as such
  bool rtt_timing_ = false;
  bool was_writable_blocked_ = false;
  bool in_pending_ = false;    // on the host's list of connections with output waiting
  bool in_starved_ = false;    // on the host's list of connections waiting for buffers
  uint8_t dupacks_ = 0;
  uint8_t segs_unacked_ = 0;   // full segments received since our last ACK
  uint8_t retries_ = 0;        // consecutive expiries of the current timer
  uint8_t sb_n_ = 0;
  TimerMode mode_ = TimerMode::kNone;
  TcpSeq ooo_fin_seq_;
  TcpSeq recover_, high_rxt_, rtt_seq_;
  uint64_t rtt_start_ = 0;     // tick the timed segment left
  uint32_t cwnd_ = 0, ssthresh_ = 0xffffffffu, bytes_acked_ = 0;
  uint32_t limited_transmit_ = 0;  // RFC 3042: bytes allowed beyond cwnd on early duplicates
  uint32_t ts_recent_ = 0, ts_offset_ = 0;
  uint64_t ts_recent_tick_ = 0;
  TcpSeq last_ack_sent_;
  uint32_t rcv_buf_ = 0, snd_buf_ = 0;
  uint32_t rcv_head_off_ = 0;  // bytes of the receive queue's head chunk already consumed
  uint64_t last_heard_ = 0;    // tick of the last segment received (keepalive)
  uint64_t next_invalid_ack_ = 0;  // tick before which no ACK answers an unacceptable segment
  ChunkQueue rcvq_, sndq_;
  // Where copy_payload last read (a node of sndq_ and the stream offset its data starts at,
  // counted like sndq_base_): segments go out in order, so the next one starts there and no
  // segment walks the queue from its head (that walk was O(window) per segment).
  uint64_t sndq_base_ = 0;  // stream offset of the send queue's first byte (bytes acknowledged)
  mutable ChunkNode* tx_cursor_ = nullptr;
  mutable uint64_t tx_cursor_at_ = 0;
  ChunkNode* ooo_ = nullptr;   // out of order, sorted by sequence, non-overlapping
  uint32_t ooo_count_ = 0;
  uint32_t rx_limit_ = 0;      // received buffers this connection may hold (Host::allocate)
  TcpSeq last_ooo_seq_;        // the segment that triggered the latest SACK (RFC 2018 §4: first block)
  SackRange sb_[kScoreboard];  // what the peer SACKed above SND.UNA, sorted, merged
  RttEstimator rtt_;
  Cubic cubic_;  // used when Settings::congestion is kCubic
  ConnStats stats_;
  timer::Timer timer_;
  timer::Timer delack_;
  bool in_use_ = false;             // allocated by the host, not yet freed
  bool holds_local_port_ = false;   // its local port came from Env::take_local_port (connect)
  Connection* next_free_ = nullptr;  // host's lists (free, graveyard, pending output, TIME-WAIT)
  Connection* tw_prev_ = nullptr;
  Connection* tw_next_ = nullptr;
  uint64_t tw_since_ = 0;
};

}  // namespace redline::tcp
