// The NAT allocation log's lines (nat_log.hpp): what an abuse desk greps for.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "stack/nat/nat_log.hpp"
#include "stack/net/types.hpp"

using namespace redline;
using nat::LogEvent;
using nat::LogRecord;

namespace {
uint32_t be(const char* a) { return net::to_be(net::Ipv4Addr::parse(a)->value); }
// 2026-12-07T20:31:05.123456789Z
constexpr uint64_t kWhen = 1796675465ull * 1'000'000'000 + 123'456'789;
}  // namespace

// A block's lines name the host, the address and the range; a port's, the inside endpoint.
TEST(NatLog, LinesForEveryEvent) {
  const uint32_t in = be("10.0.1.5"), out = be("203.0.113.7");
  const struct {
    LogRecord record;
    const char* line;
  } cases[] = {
      {{kWhen, in, out, 0, 1536, 1599, 17, LogEvent::kBlockAllocated},
       "2026-12-07T20:31:05.123456Z nat block-allocated proto=udp inside=10.0.1.5 outside=203.0.113.7:1536-1599"},
      {{kWhen, in, out, 0, 1536, 1599, 6, LogEvent::kBlockReleased},
       "2026-12-07T20:31:05.123456Z nat block-released proto=tcp inside=10.0.1.5 outside=203.0.113.7:1536-1599"},
      {{kWhen, in, out, 40000, 1024, 1024, 1, LogEvent::kPortAllocated},
       "2026-12-07T20:31:05.123456Z nat port-allocated proto=icmp inside=10.0.1.5:40000 outside=203.0.113.7:1024"},
      {{kWhen, in, out, 40000, 1024, 1024, 17, LogEvent::kPortReleased},
       "2026-12-07T20:31:05.123456Z nat port-released proto=udp inside=10.0.1.5:40000 outside=203.0.113.7:1024"},
  };
  for (const auto& c : cases) EXPECT_EQ(nat::format_log_line(c.record), c.line);
}

TEST(NatLog, WallClockIsTheSystemClock) {
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
  const int64_t diff = int64_t(nat::wall_clock_ns()) - int64_t(now.count());
  EXPECT_LT(std::abs(diff), 1'000'000'000) << "within a second";
}
