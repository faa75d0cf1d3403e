// The Prometheus page, from Snapshots built by hand (no EAL). The integration test parses a
// live page with the reference parser; these pin names, labels and escaping line by line.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "dpdk_app/control/prometheus.hpp"

using redline::app::PortSnapshot;
using redline::app::StateSample;
using redline::app::render_prometheus;
using redline::app::Snapshot;
using redline::net::Counter;

namespace {

Snapshot two_workers() {
  Snapshot s;
  s.tsc = 1'000'000;
  s.tsc_hz = 2'100'000'000;
  s.cores.resize(2);
  s.cores[0][size_t(Counter::rx_packets)] = 10;
  s.cores[1][size_t(Counter::rx_packets)] = 32;
  s.cores[0][size_t(Counter::ipv4_no_route)] = 7;
  PortSnapshot a;
  a.name = "a";
  a.device = "net_null0";
  a.link_up = true;
  a.rx_packets = 42;
  a.tx_bytes = 18446744073709551615ull;  // uint64 max: printed whole, not as a rounded double
  a.rx_missed = 3;
  a.rx_queue_packets = {40, 2};
  a.tx_queue_packets = {1, 0};
  a.xstats = {{"rx_good_packets", 42}, {"rx_q0_packets", 40}};
  s.ports.push_back(a);
  PortSnapshot b;
  b.name = "b";
  b.device = "net_tap1,iface=rl-b";
  s.ports.push_back(b);
  return s;
}

std::vector<std::string> lines(const std::string& page) {
  std::vector<std::string> out;
  std::istringstream in(page);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

bool has_line(const std::string& page, const std::string& line) {
  for (const auto& l : lines(page))
    if (l == line) return true;
  return false;
}

size_t count_prefix(const std::string& page, const std::string& prefix) {
  size_t n = 0;
  for (const auto& l : lines(page)) n += l.rfind(prefix, 0) == 0;
  return n;
}

}  // namespace

TEST(Prometheus, WorkerCounter_OneSamplePerWorkerWithHelpAndType) {
  const std::string page = render_prometheus(two_workers());
  EXPECT_TRUE(has_line(page, "# HELP redline_rx_packets_total packets taken from RX queues"));
  EXPECT_TRUE(has_line(page, "# TYPE redline_rx_packets_total counter"));
  EXPECT_TRUE(has_line(page, R"(redline_rx_packets_total{worker="0"} 10)"));
  EXPECT_TRUE(has_line(page, R"(redline_rx_packets_total{worker="1"} 32)"));
}

TEST(Prometheus, EveryCounterOfTheTable_IsOneFamily) {
  const std::string page = render_prometheus(two_workers());
  for (size_t c = 0; c < redline::net::kCounterCount; ++c) {
    const std::string name = "redline_" + std::string(redline::net::kCounterNames[c]) + "_total";
    EXPECT_EQ(count_prefix(page, "# HELP " + name + " "), 1u) << name;
    EXPECT_EQ(count_prefix(page, "# TYPE " + name + " counter"), 1u) << name;
    EXPECT_EQ(count_prefix(page, name + "{"), 2u) << name;
  }
}

TEST(Prometheus, FamiliesAreContiguous_HelpThenTypeThenSamples) {
  // The format requires a family's lines to stay together; a name seen again after another
  // family started would be a second family of the same name.
  const std::string page = render_prometheus(two_workers());
  std::vector<std::string> seen;
  std::string current;
  for (const auto& l : lines(page)) {
    if (l.rfind("# HELP ", 0) == 0) {
      current = l.substr(7, l.find(' ', 7) - 7);
      for (const auto& s : seen) ASSERT_NE(s, current) << "family repeated: " << current;
      seen.push_back(current);
      continue;
    }
    if (l.rfind("# TYPE ", 0) == 0) {
      EXPECT_EQ(l.substr(7, l.find(' ', 7) - 7), current);
      continue;
    }
    const std::string metric = l.substr(0, l.find_first_of("{ "));
    EXPECT_EQ(metric, current) << l;
  }
}

TEST(Prometheus, PortStats_LabelledByPortName) {
  const std::string page = render_prometheus(two_workers());
  EXPECT_TRUE(has_line(page, "# TYPE redline_port_rx_packets_total counter"));
  EXPECT_TRUE(has_line(page, R"(redline_port_rx_packets_total{port="a"} 42)"));
  EXPECT_TRUE(has_line(page, R"(redline_port_rx_packets_total{port="b"} 0)"));
  EXPECT_TRUE(has_line(page, R"(redline_port_tx_bytes_total{port="a"} 18446744073709551615)"));
  EXPECT_TRUE(has_line(page, R"(redline_port_rx_missed_total{port="a"} 3)"));
  for (const char* stat : {"tx_packets", "rx_bytes", "rx_errors", "tx_errors", "rx_nombuf"})
    EXPECT_TRUE(has_line(page, "# TYPE redline_port_" + std::string(stat) + "_total counter")) << stat;
}

TEST(Prometheus, PerQueueCounts_LabelledByPortAndQueue) {
  const std::string page = render_prometheus(two_workers());
  EXPECT_TRUE(has_line(page, R"(redline_port_queue_rx_packets_total{port="a",queue="0"} 40)"));
  EXPECT_TRUE(has_line(page, R"(redline_port_queue_rx_packets_total{port="a",queue="1"} 2)"));
  EXPECT_TRUE(has_line(page, R"(redline_port_queue_tx_packets_total{port="a",queue="0"} 1)"));
}

TEST(Prometheus, Xstats_OneFamilyNamedByLabel) {
  const std::string page = render_prometheus(two_workers());
  EXPECT_TRUE(has_line(page, "# TYPE redline_port_xstat_total counter"));
  EXPECT_TRUE(has_line(page, R"(redline_port_xstat_total{port="a",name="rx_good_packets"} 42)"));
  EXPECT_TRUE(has_line(page, R"(redline_port_xstat_total{port="a",name="rx_q0_packets"} 40)"));
}

TEST(Prometheus, LinkUpAndInfo_AreGauges) {
  const std::string page = render_prometheus(two_workers());
  EXPECT_TRUE(has_line(page, "# TYPE redline_port_link_up gauge"));
  EXPECT_TRUE(has_line(page, R"(redline_port_link_up{port="a"} 1)"));
  EXPECT_TRUE(has_line(page, R"(redline_port_link_up{port="b"} 0)"));
  EXPECT_TRUE(has_line(page, R"(redline_port_info{port="b",device="net_tap1,iface=rl-b"} 1)"));
  EXPECT_TRUE(has_line(page, "redline_tsc_hz 2100000000"));
}

TEST(Prometheus, Drops_OneFamilyWithAReasonLabel) {
  const std::string page = render_prometheus(two_workers());
  EXPECT_TRUE(has_line(page, "# TYPE redline_dropped_packets_total counter"));
  EXPECT_TRUE(has_line(page, R"(redline_dropped_packets_total{worker="0",reason="ipv4_no_route"} 7)"));
  EXPECT_TRUE(has_line(page, R"(redline_dropped_packets_total{worker="1",reason="ipv4_no_route"} 0)"));
  size_t reasons = 0;
  for (size_t c = 0; c < redline::net::kCounterCount; ++c) reasons += redline::app::is_drop_counter(c);
  EXPECT_GT(reasons, 40u);
  EXPECT_EQ(count_prefix(page, "redline_dropped_packets_total{"), 2 * reasons);
  EXPECT_FALSE(redline::app::is_drop_counter(size_t(Counter::rx_packets)));
}

TEST(Prometheus, DropsOldNames_KeptOneReleaseAndSaidDeprecated) {
  const std::string page = render_prometheus(two_workers());
  EXPECT_TRUE(has_line(page, R"(redline_ipv4_no_route_total{core="0"} 7)"));
  EXPECT_EQ(count_prefix(page, "# HELP redline_ipv4_no_route_total DEPRECATED, removed in the next release: "
                               "redline_dropped_packets_total{reason=\"ipv4_no_route\"}."), 1u);
}

TEST(Prometheus, BusyTime_ACounterInSeconds) {
  Snapshot s = two_workers();
  s.cores[0][size_t(Counter::busy_cycles)] = 1'050'000'000;  // half a second at 2.1 GHz
  const std::string page = render_prometheus(s);
  EXPECT_TRUE(has_line(page, "# TYPE redline_busy_seconds_total counter"));
  EXPECT_TRUE(has_line(page, R"(redline_busy_seconds_total{worker="0"} 0.5)"));
  EXPECT_TRUE(has_line(page, R"(redline_busy_seconds_total{worker="1"} 0)"));
  EXPECT_EQ(page.find("busy_ratio"), std::string::npos) << "a ratio since the last scrape depends on who scraped";
}

TEST(Prometheus, WorkerInfo_NamesTheLcore) {
  Snapshot s = two_workers();
  s.lcores = {3, 5};
  const std::string page = render_prometheus(s);
  EXPECT_TRUE(has_line(page, R"(redline_worker_info{worker="0",lcore="3"} 1)"));
  EXPECT_TRUE(has_line(page, R"(redline_worker_info{worker="1",lcore="5"} 1)"));
}

TEST(Prometheus, State_FamiliesOfTheSamplesTheAppAdds) {
  Snapshot s = two_workers();
  s.state.push_back({"nat_sessions", "gauge", "NAT sessions live on a worker", {{"worker", "0"}}, 12});
  s.state.push_back({"nat_sessions", "gauge", "", {{"worker", "1"}}, 0});
  s.state.push_back({"start_time_seconds", "gauge", "when", {}, 1.5});
  const std::string page = render_prometheus(s);
  EXPECT_EQ(count_prefix(page, "# TYPE redline_nat_sessions gauge"), 1u);
  EXPECT_TRUE(has_line(page, R"(redline_nat_sessions{worker="0"} 12)"));
  EXPECT_TRUE(has_line(page, R"(redline_nat_sessions{worker="1"} 0)"));
  EXPECT_TRUE(has_line(page, "redline_start_time_seconds 1.5"));
}

TEST(Prometheus, LabelValues_EscapeBackslashQuoteNewline) {
  EXPECT_EQ(redline::app::escape_label_value(R"(a\b"c)" "\n" "d"), R"(a\\b\"c\nd)");
  Snapshot s = two_workers();
  s.ports[0].name = "we\"ird\\";
  s.ports[0].xstats = {{"line\nbreak", 1}};
  const std::string page = render_prometheus(s);
  EXPECT_TRUE(has_line(page, R"(redline_port_rx_packets_total{port="we\"ird\\"} 42)"));
  EXPECT_TRUE(has_line(page, R"(redline_port_xstat_total{port="we\"ird\\",name="line\nbreak"} 1)"));
}

TEST(Prometheus, HelpText_EscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(redline::app::escape_help("say \"hi\"\\\nbye"), R"(say "hi"\\\nbye)");
}

TEST(Prometheus, Page_EndsWithNewline) {
  const std::string page = render_prometheus(two_workers());
  ASSERT_FALSE(page.empty());
  EXPECT_EQ(page.back(), '\n');
}
