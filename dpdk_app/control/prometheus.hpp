// A Snapshot as a Prometheus scrape page (text exposition format 0.0.4).
//
// Problem: operators graph redline with Prometheus, which wants one page of `name{labels} value`
// lines, every family introduced once by `# HELP` and `# TYPE`, label values escaped.
// Alternatives: the prometheus-cpp client library (a registry of live metric objects the
// workers would have to update, or a collector that copies into it on every scrape — a second
// copy of what the Snapshot already holds, and a package Debian 12 does not ship), or writing
// the text ourselves from the Snapshot. The format is small and stable, so: the text, written
// by a pure function (no DPDK) that unit tests check line by line and the integration test
// parses with the reference parser (python3-prometheus-client).
//
// Names: worker counters keep their table names (stack/net/counters.hpp) as
// `redline_<name>_total{core="W"}` (W is the worker index, as in the stats block), ethdev
// stats are `redline_port_<stat>_total{port="NAME"}`.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "dpdk_app/control/snapshot.hpp"

namespace redline::app {

// The scrape page for `now`. With `previous` (an earlier snapshot of the same App) it also has
// `redline_worker_busy_ratio{core=...}`, the busy share of each worker between the two.
std::string render_prometheus(const Snapshot& now, const Snapshot* previous);

// Label value escaping of format 0.0.4: backslash, double quote and line feed.
std::string escape_label_value(std::string_view v);
// HELP text escaping of format 0.0.4: backslash and line feed (quotes stay as they are).
std::string escape_help(std::string_view v);

// Serves scrapes: takes a fresh snapshot per scrape and remembers it, so that each page's busy
// ratio covers the time since the scrape before it (by whichever scraper; a Prometheus that
// wants its own window uses rate(redline_busy_cycles_total[..]) / redline_tsc_hz instead).
// The first page compares against a snapshot taken at construction. Called from the HTTP
// server's threads, possibly several at once: the mutex keeps `previous_` consistent and
// orders scrapes, so each ratio covers a positive interval.
class PrometheusScraper {
 public:
  explicit PrometheusScraper(std::function<Snapshot()> take) : take_(std::move(take)), previous_(take_()) {}
  std::string scrape();

 private:
  std::function<Snapshot()> take_;
  std::mutex mu_;
  Snapshot previous_;  // guarded by mu_
};

}  // namespace redline::app
