#include "dpdk_app/service_notify.hpp"

#include <systemd/sd-daemon.h>

#include "stack/pipeline/log.hpp"

namespace redline::app {

ServiceNotify::ServiceNotify() {
  uint64_t usec = 0;
  // > 0 only when systemd asked for pings (WATCHDOG_USEC set, for this PID).
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) interval_ = std::chrono::microseconds(usec / 2);
  next_ = std::chrono::steady_clock::now();
}

void ServiceNotify::ready(const std::string& status) const {
  const std::string message = "READY=1\nSTATUS=" + status;
  if (sd_notify(0, message.c_str()) < 0)
    log::write(log::Level::kWarning, "systemd: READY=1 could not be sent to NOTIFY_SOCKET");
}

void ServiceNotify::stopping() const { sd_notify(0, "STOPPING=1\nSTATUS=stopping"); }

void ServiceNotify::tick(const std::function<bool()>& healthy) {
  if (!watchdog_on()) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_) return;
  next_ = now + interval_;
  if (healthy()) sd_notify(0, "WATCHDOG=1");
  else
    REDLINE_LOG_LIMITED(log::Level::kError, 1, "systemd watchdog: a worker's loop has not turned for %lld ms: no ping",
                        (long long)std::chrono::duration_cast<std::chrono::milliseconds>(interval_).count());
}

}  // namespace redline::app
