#include "dpdk_app/control/prometheus.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <utility>

namespace redline::app {

namespace {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
using OwnedLabels = std::vector<std::pair<std::string, std::string>>;

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
    integer(value);
  }

  // A value that may be whole (a count) or not: whole ones are written as integers.
  void sample_state(std::string_view name, const OwnedLabels& labels, double value) {
    labels_(name, labels);
    if (value >= 0 && value < 1e15 && value == double(uint64_t(value))) return integer(uint64_t(value));
    real(value);
  }

  void sample(std::string_view name, Labels labels, double value) {
    labels_(name, labels);
    real(value);
  }

  std::string take() { return std::move(out_); }

 private:
  void integer(uint64_t value) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, r.ptr);
    out_ += '\n';
  }

  void real(double value) {
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

  template <class L>
  void labels_(std::string_view name, const L& labels) {
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

bool is_drop_counter(size_t c) { return std::string_view(net::kCounterDescriptions[c]).starts_with("drop: "); }

std::string render_prometheus(const Snapshot& now) {
  Page page;
  std::vector<std::string> workers;
  for (size_t w = 0; w < now.cores.size(); ++w) workers.push_back(index_label(w));

  // Every counter but the drops: one family each, a sample per worker.
  for (size_t c = 0; c < net::kCounterCount; ++c) {
    if (is_drop_counter(c)) continue;
    const std::string name = "redline_" + std::string(net::kCounterNames[c]) + "_total";
    page.family(name, "counter", net::kCounterDescriptions[c]);
    for (size_t w = 0; w < now.cores.size(); ++w) page.sample(name, {{"worker", workers[w]}}, now.cores[w][c]);
  }
  // The drops: one family, the reason a label, so one query sums or ranks them all
  // (sum by (reason) (rate(redline_dropped_packets_total[5m]))).
  page.family("redline_dropped_packets_total", "counter",
              "packets dropped, by reason: the counter of that name (redlinectl show counters describes each)");
  for (size_t c = 0; c < net::kCounterCount; ++c)
    if (is_drop_counter(c))
      for (size_t w = 0; w < now.cores.size(); ++w)
        page.sample("redline_dropped_packets_total", {{"worker", workers[w]}, {"reason", net::kCounterNames[c]}},
                    now.cores[w][c]);
  // The per-reason names of release 0.1, with their `core` label, kept one release for the
  // dashboards built on them.
  for (size_t c = 0; c < net::kCounterCount; ++c) {
    if (!is_drop_counter(c)) continue;
    const std::string name = "redline_" + std::string(net::kCounterNames[c]) + "_total";
    page.family(name, "counter",
                "DEPRECATED, removed in the next release: redline_dropped_packets_total{reason=\"" +
                    std::string(net::kCounterNames[c]) + "\"}. " + std::string(net::kCounterDescriptions[c]));
    for (size_t w = 0; w < now.cores.size(); ++w) page.sample(name, {{"core", workers[w]}}, now.cores[w][c]);
  }
  // Busy time as a counter: rate() over any window gives the busy share, whoever scrapes.
  page.family("redline_busy_seconds_total", "counter",
              "time a worker spent in loop iterations that handled packets: rate() of it is the busy share");
  for (size_t w = 0; w < now.cores.size(); ++w)
    page.sample("redline_busy_seconds_total", {{"worker", workers[w]}},
                double(now.cores[w][size_t(net::Counter::busy_cycles)]) / double(now.tsc_hz));
  page.family("redline_worker_info", "gauge", "a worker and the lcore (CPU) it runs on (always 1)");
  for (size_t w = 0; w < now.cores.size(); ++w)
    page.sample("redline_worker_info", {{"worker", workers[w]}, {"lcore", w < now.lcores.size() ? std::to_string(now.lcores[w]) : "?"}},
                uint64_t(1));
  page.family("redline_tsc_hz", "gauge", "TSC frequency: busy cycles over elapsed seconds times this is the busy ratio");
  page.sample("redline_tsc_hz", {}, now.tsc_hz);

  page.family("redline_port_info", "gauge", "a port and its DPDK device (always 1)");
  for (const auto& p : now.ports) page.sample("redline_port_info", {{"port", p.name}, {"device", p.device}}, uint64_t(1));
  page.family("redline_port_link_up", "gauge", "1 if the port's link is up (a net_tap moved to another namespace reads down)");
  for (const auto& p : now.ports) page.sample("redline_port_link_up", {{"port", p.name}}, uint64_t(p.link_up));
  page.family("redline_port_speed_bytes_per_second", "gauge", "the link's speed (0 if the driver does not say)");
  for (const auto& p : now.ports)
    page.sample("redline_port_speed_bytes_per_second", {{"port", p.name}}, uint64_t(p.speed_mbps) * 1'000'000 / 8);
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
  page.family("redline_port_xstat_total", "counter", "driver statistics (ethdev xstats), by the driver's name for them");
  for (const auto& p : now.ports)
    for (const auto& [name, value] : p.xstats) page.sample("redline_port_xstat_total", {{"port", p.name}, {"name", name}}, value);

  // The appliance's state (StateSample): samples of one name arrive together.
  for (size_t i = 0; i < now.state.size(); ++i) {
    const StateSample& st = now.state[i];
    const std::string name = "redline_" + st.name;
    if (i == 0 || now.state[i - 1].name != st.name) page.family(name, st.type, st.help);
    page.sample_state(name, st.labels, st.value);
  }
  return page.take();
}

}  // namespace redline::app
