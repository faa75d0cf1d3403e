#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <string>

#include "stack/pipeline/log.hpp"

using namespace redline;

namespace {
// Captures what rte_log writes while it lives.
struct Capture {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  FILE* old = rte_log_get_stream();
  Capture() { rte_openlog_stream(f); }
  ~Capture() {
    rte_openlog_stream(old);
    std::fclose(f);
    std::free(buf);
  }
  std::string text() {
    std::fflush(f);
    return std::string(buf, len);
  }
};
}  // namespace

TEST(Log, LineHasATimestampTheComponentAndTheLevel) {
  Capture c;
  ASSERT_TRUE(log::set_level("info"));
  log::write(log::Level::kWarning, "port %s: %d", "a", 7);
  EXPECT_TRUE(std::regex_search(c.text(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z redline warning: port a: 7\n)")))
      << c.text();
}

TEST(Log, LevelBelowTheSetOneIsDropped) {
  Capture c;
  ASSERT_TRUE(log::set_level("warning"));
  log::write(log::Level::kInfo, "quiet");
  EXPECT_EQ(c.text().find("quiet"), std::string::npos);
  EXPECT_FALSE(log::set_level("loud"));
  ASSERT_TRUE(log::set_level("info"));
}

TEST(Log, PacketTriggeredLinesAreLimitedPerCallSiteAndCountWhatWasHeldBack) {
  Capture c;
  ASSERT_TRUE(log::set_level("info"));
  for (int i = 0; i < 1000; ++i) REDLINE_LOG_LIMITED(log::Level::kWarning, 5, "flood %d", i);
  const std::string t = c.text();
  size_t lines = 0;
  for (char ch : t) lines += ch == '\n';
  EXPECT_EQ(lines, 5u) << t;
}

TEST(Log, LimiterTellsHowManyItHeldBack) {
  log::Limiter l(2);
  const uint64_t hz = 1000;
  uint64_t held = 99;
  EXPECT_TRUE(l.allow(1000, hz, &held));
  EXPECT_EQ(held, 0u);
  EXPECT_TRUE(l.allow(1001, hz, &held));
  EXPECT_FALSE(l.allow(1002, hz, &held));
  EXPECT_FALSE(l.allow(1003, hz, &held));
  EXPECT_TRUE(l.allow(2000, hz, &held));  // a second later
  EXPECT_EQ(held, 2u);
}
