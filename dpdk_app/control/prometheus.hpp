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
// Names (README "Metrics" lists them): worker counters keep their table names
// (stack/net/counters.hpp) as `redline_<name>_total{worker="W"}` (W is the worker index, as in
// the stats block; `redline_worker_info` gives its lcore), except the drops, which are one family
// `redline_dropped_packets_total{worker, reason}`; busy time is `redline_busy_seconds_total`;
// ethdev stats are `redline_port_<stat>_total{port="NAME"}`; the App's state (NAT sessions, TCP
// connections, mbufs, reloads, build info) follows as gauges and counters of its own. Every
// series is on the first page (zeros included), so its first increase is never lost.
#pragma once

#include <string>
#include <string_view>

#include "dpdk_app/control/snapshot.hpp"

namespace redline::app {

// The scrape page for `now`. Stateless: any number of scrapers see the same page.
std::string render_prometheus(const Snapshot& now);

// A counter whose description starts "drop: " (counters.hpp): a reason of
// redline_dropped_packets_total.
bool is_drop_counter(size_t counter);

// Label value escaping of format 0.0.4: backslash, double quote and line feed.
std::string escape_label_value(std::string_view v);
// HELP text escaping of format 0.0.4: backslash and line feed (quotes stay as they are).
std::string escape_help(std::string_view v);

}  // namespace redline::app
