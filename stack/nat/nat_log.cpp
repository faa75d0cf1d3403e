#include "stack/nat/nat_log.hpp"

#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <syslog.h>

#include <cerrno>
#include <cstring>

namespace redline::nat {

std::unique_ptr<LogRing> LogRing::create(const std::string& name, uint32_t records, int socket, std::string* error) {
  rte_ring* r = rte_ring_create_elem(name.c_str(), sizeof(LogRecord), rte_align32pow2(records), socket,
                                     RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!r) {
    *error = "nat log ring " + name + ": " + rte_strerror(rte_errno);
    return nullptr;
  }
  return std::unique_ptr<LogRing>(new LogRing(r));
}

LogRing::~LogRing() { rte_ring_free(ring_); }

bool LogRing::push(const LogRecord& r) {
  LogRecord copy = r;  // DPDK's enqueue takes a non-const pointer
  return rte_ring_sp_enqueue_elem(ring_, &copy, sizeof(LogRecord)) == 0;
}

uint32_t LogRing::pop(LogRecord* out, uint32_t max) {
  return rte_ring_sc_dequeue_burst_elem(ring_, out, sizeof(LogRecord), max, nullptr);
}

std::unique_ptr<LogSink> LogSink::open(const NatLogConfig& c, std::string* error) {
  std::unique_ptr<LogSink> s(new LogSink());
  if (!c.file.empty()) {
    s->path_ = c.file;
    s->file_ = std::fopen(c.file.c_str(), "a");
    if (!s->file_) {
      *error = "nat.log.file " + c.file + ": " + std::strerror(errno);
      return nullptr;
    }
  }
  if (c.syslog) {
    openlog("redline-nat", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    s->syslog_ = true;
  }
  return s;
}

LogSink::~LogSink() {
  if (file_) std::fclose(file_);
  if (syslog_) closelog();
}

void LogSink::write(const LogRecord& r) {
  const std::string line = format_log_line(r);
  if (file_) std::fprintf(file_, "%s\n", line.c_str());
  if (syslog_) ::syslog(LOG_INFO, "%s", line.c_str());
}

bool LogSink::reopen(std::string* error) {
  if (!file_) return true;
  std::FILE* f = std::fopen(path_.c_str(), "a");
  if (!f) {
    *error = "nat.log.file " + path_ + ": " + std::strerror(errno);
    return false;
  }
  std::fclose(file_);
  file_ = f;
  return true;
}

void LogSink::flush() {
  if (file_) std::fflush(file_);
}

}  // namespace redline::nat
