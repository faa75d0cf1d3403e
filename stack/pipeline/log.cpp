#include "stack/pipeline/log.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace redline::log {

uint32_t type() {
  static const int t = rte_log_register_type_and_pick_level("redline", RTE_LOG_INFO);
  return t < 0 ? RTE_LOGTYPE_USER1 : uint32_t(t);
}

namespace {
const struct {
  const char* name;
  Level level;
} kLevels[] = {{"error", Level::kError}, {"warning", Level::kWarning}, {"info", Level::kInfo}, {"debug", Level::kDebug}};
}  // namespace

const char* level_name() {
  // rte_log keeps the level of every type; any core may change it (rte_log_set_level), and a
  // line is let through or not by the level at the moment it is written.
  const int now = rte_log_get_level(type());
  for (const auto& l : kLevels)
    if (now == int(l.level)) return l.name;
  return now < int(Level::kError) ? "error" : "debug";
}

bool set_level(const char* name) {
  for (const auto& l : kLevels)
    if (std::strcmp(l.name, name) == 0) return rte_log_set_level(type(), uint32_t(l.level)) == 0;
  return false;
}

bool to_file(const char* path) {
  FILE* f = std::fopen(path, "a");
  if (!f) return false;
  std::setvbuf(f, nullptr, _IOLBF, 0);
  return rte_openlog_stream(f) == 0;
}

void write(Level level, const char* fmt, ...) {
  if (!rte_log_can_log(type(), uint32_t(level))) return;
  static const char* const kNames[] = {"", "emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"};
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  rte_log(uint32_t(level), type(), "%s.%03ldZ redline %s: %s\n", stamp, ts.tv_nsec / 1'000'000,
          kNames[uint32_t(level) < 9 ? uint32_t(level) : 0], text);
}

bool Limiter::allow(uint64_t now_tsc, uint64_t tsc_hz, uint64_t* suppressed) {
  if (now_tsc - window_start_ >= tsc_hz) {
    window_start_ = now_tsc;
    in_window_ = 0;
  }
  if (in_window_ >= per_second_) {
    ++held_back_;
    return false;
  }
  ++in_window_;
  *suppressed = held_back_;
  held_back_ = 0;
  return true;
}

}  // namespace redline::log
