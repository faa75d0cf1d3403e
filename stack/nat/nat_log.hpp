// The NAT's allocation log (RFC 6888 §4 REQ-12; RFC 7422 §1): which inside host held which
// outside ports when, so that an abuse report naming an outside address, port and time finds
// the subscriber. One record per port block given and taken back, or, with blocks off, per
// outside port (a mapping). Records name no remote: REQ-12 asks a CGN not to log destinations.
//
// Problem: a worker must never wait on a disk or on syslog. Choice: each worker writes fixed-size
// records into its own single-producer ring (a full ring loses the record, counted as
// nat_log_dropped, never blocks); the control thread drains every ring and writes lines to a
// file or to syslog.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "stack/nat/nat_config.hpp"

struct rte_ring;

namespace redline::nat {

enum class LogEvent : uint8_t {
  kBlockAllocated,
  kBlockReleased,
  kPortAllocated,  // blocks off: a mapping's port
  kPortReleased,
};

struct LogRecord {
  uint64_t unix_ns = 0;     // wall-clock time of the event
  uint32_t inside_ip = 0;   // network byte order, as FiveTuple
  uint32_t outside_ip = 0;
  uint16_t inside_port = 0;  // host order; 0 for a block (it serves every port of the host)
  uint16_t first_port = 0;   // host order: the outside port, or a block's first and last
  uint16_t last_port = 0;
  uint8_t protocol = 0;
  LogEvent event = LogEvent::kBlockAllocated;
};
static_assert(sizeof(LogRecord) == 24, "ring elements are a multiple of 4 bytes");

// One line, e.g. "2026-12-07T20:31:05.123456Z nat block-allocated proto=udp inside=10.0.1.5
// outside=203.0.113.7:1536-1791" (one line in the file). Pure.
std::string format_log_line(const LogRecord& r);

// The wall clock now, in ns since the epoch (cold paths only: a vDSO call).
uint64_t wall_clock_ns();

// One worker's ring.
class LogRing {
 public:
  // Null with `error` set if DPDK cannot make the ring. `name` must be unique in the process.
  static std::unique_ptr<LogRing> create(const std::string& name, uint32_t records, int socket, std::string* error);
  ~LogRing();
  LogRing(const LogRing&) = delete;
  LogRing& operator=(const LogRing&) = delete;
  // The worker: false if the ring is full (the caller counts the loss).
  bool push(const LogRecord& r);
  // The control thread: up to `max` records into `out`; how many.
  uint32_t pop(LogRecord* out, uint32_t max);

 private:
  explicit LogRing(rte_ring* r) : ring_(r) {}
  rte_ring* ring_;
};

// Where the control thread writes the lines.
class LogSink {
 public:
  // Opens the file for appending, or syslog; null with `error` set if the file cannot be opened.
  static std::unique_ptr<LogSink> open(const NatLogConfig& c, std::string* error);
  ~LogSink();
  void write(const LogRecord& r);
  void flush();
  // Opens the file again (after logrotate moved it: reload, SIGHUP); false with `error` set if
  // it cannot be, and the old one is kept.
  bool reopen(std::string* error);

 private:
  LogSink() = default;
  std::string path_;
  std::FILE* file_ = nullptr;
  bool syslog_ = false;
};

}  // namespace redline::nat
