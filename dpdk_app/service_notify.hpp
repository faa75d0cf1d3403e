// Telling systemd how redline is doing (Type=notify, WatchdogSec=; examples/redline.service):
// READY=1 once the workers run and the control socket is open, WATCHDOG=1 at half the watchdog
// interval while every worker's loop still turns, STOPPING=1 when it stops, STATUS= lines an
// operator sees in `systemctl status`. Without NOTIFY_SOCKET (not started by systemd) every call
// does nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace redline::app {

class ServiceNotify {
 public:
  ServiceNotify();  // reads the watchdog interval systemd gave (WATCHDOG_USEC)
  void ready(const std::string& status) const;
  void stopping() const;
  // From the control loop, often: when a watchdog ping is due, asks `healthy` (have all workers
  // turned their loop since the last ping?) and pings only if so, so a stuck worker makes
  // systemd restart redline (Restart=on-failure).
  void tick(const std::function<bool()>& healthy);
  bool watchdog_on() const { return interval_.count() > 0; }

 private:
  std::chrono::microseconds interval_{0};
  std::chrono::steady_clock::time_point next_{};
};

}  // namespace redline::app
