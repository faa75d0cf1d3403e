// TCP's knobs: the [tcp] section of the config, per worker. Defaults follow Linux where the
// RFCs leave a choice (minimum RTO 200 ms, delayed ACK at most 40 ms, TIME-WAIT 60 s,
// keepalive 2 h / 75 s / 9 probes), so a redline peer behaves like the hosts it replaces.
#pragma once

#include <cstdint>

namespace redline::tcp {

// RFC 9293 §3.7.1: the send MSS of a peer that gave none (or gave 0, which Linux ignores).
constexpr uint16_t kDefaultMss = 536;
// The smallest send MSS a peer can impose (Linux: net.ipv4.tcp_min_snd_mss, 48). Below it a
// peer could make every segment carry a byte or two, multiplying the buffers and segments a
// transfer takes (CVE-2019-11479), or none at all.
constexpr uint16_t kMinSendMss = 48;

struct Keepalive {
  bool enabled = false;
  uint32_t idle_s = 7200;     // RFC 1122 §4.2.3.6: no less than two hours by default
  uint32_t interval_s = 75;
  uint32_t probes = 9;
  friend bool operator==(const Keepalive&, const Keepalive&) = default;
};

// Per-connection options, settable per listener (inherited by its connections) and per
// connection.
struct ConnOptions {
  bool nodelay = false;     // Nagle off (RFC 9293 §3.7.4)
  Keepalive keepalive;
  uint32_t recv_buffer = 0;  // bytes; 0: Settings::recv_buffer
  uint32_t send_buffer = 0;  // bytes; 0: Settings::send_buffer
  friend bool operator==(const ConnOptions&, const ConnOptions&) = default;
};

// Congestion avoidance after loss: NewReno's one segment per RTT (RFC 5681, RFC 6582), or CUBIC
// (RFC 9438), which refills long fat paths faster.
enum class Congestion : uint8_t { kNewReno, kCubic };

struct Settings {
  uint32_t max_connections = 65536;  // per worker, TIME-WAIT included
  uint32_t time_wait_max = 16384;    // per worker; beyond it the oldest TIME-WAIT is recycled
  uint32_t syn_backlog = 1024;       // connections in SYN-RECEIVED per listener
  bool syn_cookies = true;           // beyond syn_backlog, SYN-ACKs carry SYN cookies (RFC 4987 §3.6)
  uint32_t min_rto_ms = 200;         // RFC 6298 §2.4 says 1 s; Linux and every fast stack use 200 ms
  uint32_t max_rto_ms = 120'000;     // RFC 6298 §2.5: at least 60 s
  uint32_t initial_rto_ms = 1000;    // RFC 6298 §2.1
  uint32_t delayed_ack_ms = 40;      // RFC 9293 §3.8.6.3: under 0.5 s; Linux's 40 ms
  uint32_t time_wait_ms = 60'000;    // 2 MSL (Linux's TCP_TIMEWAIT_LEN)
  uint32_t fin_wait2_ms = 60'000;    // a closed connection waiting for the peer's FIN
  uint32_t syn_retries = 6;          // SYN retransmissions before connect fails
  uint32_t synack_retries = 5;
  uint32_t retries = 15;             // data retransmissions before the connection fails (tcp_retries2)
  uint32_t recv_buffer = 256 * 1024;
  uint32_t send_buffer = 256 * 1024;
  uint32_t ooo_max_segments = 256;   // out-of-order segments held per connection (mbufs)
  // Receive memory is counted in the buffers held, not the bytes they carry (a 1-byte segment
  // pins a whole mbuf; Linux counts truesize likewise): per connection at most 2 × its receive
  // buffer's worth of buffers, per worker at most rx_mbufs. Beyond either, out-of-order data
  // is pruned and new segments dropped unacknowledged (the peer sends them again), except the
  // few every connection keeps so it always makes progress.
  uint32_t rx_mbufs = 2048;
  // Send memory likewise: buffers in the send queues of a worker's connections (data written and
  // not yet acknowledged, echoes of received mbufs included), at most tx_mbufs. Beyond it a send
  // takes nothing more and the application hears on_writable once buffers come back. A sender
  // stops at 7/8 of it; the last eighth is for connections holding fewer than four (Host::
  // tx_admits). Without it, peers that never read pin every send buffer until the mbuf pool is
  // empty and RX stops (issue 21).
  uint32_t tx_mbufs = 2048;
  bool sack = true;                  // RFC 2018
  bool timestamps = true;            // RFC 7323 §3
  bool window_scaling = true;        // RFC 7323 §2
  bool tail_loss_probe = true;       // RFC 8985 §7: probe a lost tail after 2 SRTT, not the RTO
  Congestion congestion = Congestion::kNewReno;
  // Segments are sent from the buffers holding their payload, headers written in front of it,
  // where the Env can (redline's: an mbuf nothing else references, with headroom for the
  // headers); otherwise the payload is copied into a new buffer. send() fills one buffer per
  // segment and segments start at buffer starts. Off: every segment is copied (and ports may use
  // MBUF_FAST_FREE, which requires mbufs the application does not keep).
  bool zero_copy_send = true;
  // Local ports for connect: above the NAT's default outside ports (1024-60999) and above the
  // Linux kernel's own ephemeral ports (32768-60999, which its exception path uses), so no
  // default claims a port twice (endpoint/claims.hpp).
  uint16_t ephemeral_low = 61000;
  uint16_t ephemeral_high = 65535;
  Keepalive keepalive;               // the default for every connection
  // Answers a flood could draw out of the host, bounded (none is needed for a peer that plays
  // by the rules): challenge ACKs per second per worker (RFC 5961 §7; Linux's
  // tcp_challenge_ack_limit is 1000), resets to segments for no connection per second per worker
  // (BSD's icmplim bounds them likewise), and per connection at most one ACK answering an
  // out-of-window or PAWS-rejected segment per interval (Linux's tcp_invalid_ratelimit, 500 ms).
  uint32_t challenge_ack_rate = 1000;
  uint32_t reset_rate = 1000;
  uint32_t invalid_ack_interval_ms = 500;
  uint32_t max_segments_per_call = 64;  // a connection's output per call: bounds the loop's latency
  friend bool operator==(const Settings&, const Settings&) = default;
};

}  // namespace redline::tcp
