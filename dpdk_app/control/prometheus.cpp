#include "dpdk_app/control/prometheus.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <utility>

namespace redline::app {

namespace {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Page {
 public:
  // Every family is introduced once, before its samples (the format requires its samples to
  // stay together, so callers write one family completely before the next).
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, Labels labels, uint64_t value) {
    labels_(name, labels);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, r.ptr);
    out_ += '\n';
  }

  void sample(std::string_view name, Labels labels, double value) {
    labels_(name, labels);
    if (std::isnan(value)) {
      out_ += "NaN";
    } else if (std::isinf(value)) {
      out_ += value > 0 ? "+Inf" : "-Inf";
    } else {
      char buf[32];  // shortest text that reads back as the same double; Go's ParseFloat takes it
      auto r = std::to_chars(buf, buf + sizeof buf, value);
      out_.append(buf, r.ptr);
    }
    out_ += '\n';
  }

  std::string take() { return std::move(out_); }

 private:
  void labels_(std::string_view name, Labels labels) {
    out_ += name;
    if (labels.size()) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label_value(v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }

  std::string out_;
};

struct PortStat {
  std::string_view name;
  uint64_t PortSnapshot::*field;
  std::string_view help;
};

constexpr PortStat kPortStats[] = {
    {"rx_packets", &PortSnapshot::rx_packets, "packets the port received (ethdev ipackets)"},
    {"tx_packets", &PortSnapshot::tx_packets, "packets the port sent (ethdev opackets)"},
    {"rx_bytes", &PortSnapshot::rx_bytes, "bytes the port received (ethdev ibytes)"},
    {"tx_bytes", &PortSnapshot::tx_bytes, "bytes the port sent (ethdev obytes)"},
    {"rx_missed", &PortSnapshot::rx_missed, "packets dropped by the port for lack of RX descriptors (ethdev imissed)"},
    {"rx_errors", &PortSnapshot::rx_errors, "erroneous packets received (ethdev ierrors)"},
    {"tx_errors", &PortSnapshot::tx_errors, "packets the port failed to send (ethdev oerrors)"},
    {"rx_nombuf", &PortSnapshot::rx_nombuf, "RX mbuf allocation failures (ethdev rx_nombuf)"},
};

std::string index_label(size_t i) { return std::to_string(i); }

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_prometheus(const Snapshot& now, const Snapshot* previous) {
  Page page;
  std::vector<std::string> cores;
  for (size_t w = 0; w < now.cores.size(); ++w) cores.push_back(index_label(w));

  for (size_t c = 0; c < net::kCounterCount; ++c) {
    const std::string name = "redline_" + std::string(net::kCounterNames[c]) + "_total";
    page.family(name, "counter", net::kCounterDescriptions[c]);
    for (size_t w = 0; w < now.cores.size(); ++w) page.sample(name, {{"core", cores[w]}}, now.cores[w][c]);
  }
  page.family("redline_tsc_hz", "gauge", "TSC frequency: busy cycles over elapsed seconds times this is the busy ratio");
  page.sample("redline_tsc_hz", {}, now.tsc_hz);
  if (previous) {
    page.family("redline_worker_busy_ratio", "gauge",
                "share of time the worker spent in loop iterations that handled packets, since the previous scrape");
    // A worker books an iteration's cycles when the iteration ends, so one that straddles the
    // previous snapshot lands wholly in this interval. Iterations are microseconds, unless the
    // worker's CPU was taken away mid-iteration (another process on it, a descheduled vCPU):
    // then the share exceeds 1 by milliseconds' worth (measured: up to 1.03 over 0.3 s with a
    // second busy-polling process on the worker's CPU). A worker cannot be more than all busy.
    for (size_t w = 0; w < now.cores.size(); ++w)
      page.sample("redline_worker_busy_ratio", {{"core", cores[w]}}, std::min(busy_share(*previous, now, w), 1.0));
  }

  page.family("redline_port_info", "gauge", "a port and its DPDK device (always 1)");
  for (const auto& p : now.ports) page.sample("redline_port_info", {{"port", p.name}, {"device", p.device}}, uint64_t(1));
  page.family("redline_port_link_up", "gauge", "1 if the port's link is up (a net_tap moved to another namespace reads down)");
  for (const auto& p : now.ports) page.sample("redline_port_link_up", {{"port", p.name}}, uint64_t(p.link_up));
  for (const PortStat& s : kPortStats) {
    const std::string name = "redline_port_" + std::string(s.name) + "_total";
    page.family(name, "counter", s.help);
    for (const auto& p : now.ports) page.sample(name, {{"port", p.name}}, p.*s.field);
  }
  page.family("redline_port_queue_rx_packets_total", "counter", "packets received on a port's RX queue (queue N is worker N's)");
  for (const auto& p : now.ports)
    for (size_t q = 0; q < p.rx_queue_packets.size(); ++q)
      page.sample("redline_port_queue_rx_packets_total", {{"port", p.name}, {"queue", index_label(q)}}, p.rx_queue_packets[q]);
  page.family("redline_port_queue_tx_packets_total", "counter", "packets sent on a port's TX queue (queue N is worker N's)");
  for (const auto& p : now.ports)
    for (size_t q = 0; q < p.tx_queue_packets.size(); ++q)
      page.sample("redline_port_queue_tx_packets_total", {{"port", p.name}, {"queue", index_label(q)}}, p.tx_queue_packets[q]);
  page.family("redline_port_xstat_total", "counter", "driver statistics (ethdev xstats) that are not zero, by driver name");
  for (const auto& p : now.ports)
    for (const auto& [name, value] : p.xstats) page.sample("redline_port_xstat_total", {{"port", p.name}, {"name", name}}, value);
  return page.take();
}

std::string PrometheusScraper::scrape() {
  std::lock_guard lock(mu_);
  Snapshot now = take_();
  std::string page = render_prometheus(now, &previous_);
  previous_ = std::move(now);
  return page;
}

}  // namespace redline::app
