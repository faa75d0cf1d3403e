// redline's one logger: DPDK's rte_log with a "redline" type of its own.
//
// Why rte_log and not spdlog: it is already in every process with EAL, so EAL's own options
// work on redline's lines too (--log-level=redline:debug, --syslog), the destination is one
// stream for DPDK's and redline's messages alike (stderr by default, a file via [log] file),
// and it adds no dependency. What it lacks, this adds: a timestamp on every line, and a limit
// per call site for anything a packet can trigger (a flood must not turn into a log flood).
#pragma once

#include <rte_cycles.h>
#include <rte_log.h>

#include <cstdint>

namespace redline::log {

enum class Level : uint32_t { kError = RTE_LOG_ERR, kWarning = RTE_LOG_WARNING, kInfo = RTE_LOG_INFO, kDebug = RTE_LOG_DEBUG };

// The registered rte_log type (registered on first use).
uint32_t type();
// Sets the level below which lines are dropped; "error", "warning", "info" or "debug".
bool set_level(const char* name);
// The level in force now, by the names set_level takes.
const char* level_name();
// Sends every line (DPDK's too) to `path`, appended; false if it cannot be opened.
bool to_file(const char* path);

// One line: "2026-11-25T00:31:20.123Z redline warning: ...".
[[gnu::format(printf, 2, 3)]] void write(Level level, const char* fmt, ...);

// At most `per_second` lines a second from one call site on one core; what it held back is
// counted and told with the next line that passes. Time is the TSC, read only when a line is
// about to be written.
class Limiter {
 public:
  explicit Limiter(uint32_t per_second) : per_second_(per_second) {}
  // Returns true if a line may go now; `*suppressed` then says how many were held back since.
  bool allow(uint64_t now_tsc, uint64_t tsc_hz, uint64_t* suppressed);

 private:
  uint32_t per_second_;
  uint32_t in_window_ = 0;
  uint64_t window_start_ = 0;
  uint64_t held_back_ = 0;
};

}  // namespace redline::log

// For anything a packet can trigger: `per_second` lines a second per call site per core.
#define REDLINE_LOG_LIMITED(level, per_second, fmt, ...)                                                \
  do {                                                                                               \
    static thread_local ::redline::log::Limiter redline_limiter_(per_second);                        \
    uint64_t redline_held_ = 0;                                                                      \
    if (redline_limiter_.allow(rte_get_tsc_cycles(), rte_get_tsc_hz(), &redline_held_)) {            \
      if (redline_held_)                                                                             \
        ::redline::log::write(level, fmt " (%lu more like this held back)", ##__VA_ARGS__,           \
                              (unsigned long)redline_held_);                                         \
      else                                                                                           \
        ::redline::log::write(level, fmt, ##__VA_ARGS__);                                            \
    }                                                                                                \
  } while (0)
