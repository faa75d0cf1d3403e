// The NAT log's lines and clock: pure, unit-tested without DPDK (nat_log.hpp).
#include <ctime>

#include "stack/nat/nat_log.hpp"
#include "stack/nat/session_view.hpp"
#include "stack/net/types.hpp"

namespace redline::nat {

namespace {
const char* event_name(LogEvent e) {
  switch (e) {
    case LogEvent::kBlockAllocated: return "block-allocated";
    case LogEvent::kBlockReleased: return "block-released";
    case LogEvent::kPortAllocated: return "port-allocated";
    case LogEvent::kPortReleased: return "port-released";
  }
  return "?";
}
std::string address(uint32_t ip_be) { return net::Ipv4Addr{net::to_be(ip_be)}.to_string(); }
}  // namespace

std::string format_log_line(const LogRecord& r) {
  const time_t seconds = time_t(r.unix_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char when[40];
  std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, unsigned(r.unix_ns % 1'000'000'000 / 1000));
  std::string line = std::string(when) + " nat " + event_name(r.event) + " proto=" + protocol_name(r.protocol) +
                     " inside=" + address(r.inside_ip);
  const bool block = r.event == LogEvent::kBlockAllocated || r.event == LogEvent::kBlockReleased;
  if (!block) line += ":" + std::to_string(r.inside_port);
  line += " outside=" + address(r.outside_ip) + ":" + std::to_string(r.first_port);
  if (block) line += "-" + std::to_string(r.last_port);
  return line;
}

uint64_t wall_clock_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

}  // namespace redline::nat
