// The [tcp] and [services] sections (examples/tcp.toml documents every key): read and checked,
// with the file, line and key of anything wrong.
#include "dpdk_app/config.hpp"
#include "dpdk_app/config_reader.hpp"

namespace redline::app {

tcp::Settings read_tcp(const Reader& r, const toml::table& t) {
  tcp::Settings s;
  r.only_keys(t, "tcp",
              {"max_connections", "time_wait_max", "syn_backlog", "syn_cookies", "min_rto_ms", "max_rto_ms", "initial_rto_ms",
               "delayed_ack_ms", "time_wait_ms", "fin_wait2_ms", "syn_retries", "synack_retries", "retries", "recv_buffer",
               "send_buffer", "ooo_max_segments", "sack", "timestamps", "window_scaling", "tail_loss_probe", "congestion", "ephemeral_ports", "keepalive",
               "zero_copy_send", "rx_mbufs", "tx_mbufs", "challenge_ack_rate", "reset_rate", "invalid_ack_interval_ms"});
  r.number(t, "max_connections", "tcp.max_connections", s.max_connections, 16, 1 << 24);
  r.number(t, "time_wait_max", "tcp.time_wait_max", s.time_wait_max, 1, 1 << 24);
  r.number(t, "syn_backlog", "tcp.syn_backlog", s.syn_backlog, 1, 1 << 20);
  s.syn_cookies = r.boolean(t, "syn_cookies", "tcp.syn_cookies", s.syn_cookies);
  r.number(t, "min_rto_ms", "tcp.min_rto_ms", s.min_rto_ms, 1, 60'000);
  r.number(t, "max_rto_ms", "tcp.max_rto_ms", s.max_rto_ms, 1000, 600'000);
  r.number(t, "initial_rto_ms", "tcp.initial_rto_ms", s.initial_rto_ms, 1, 60'000);
  // RFC 9293 §3.8.6.3: an ACK is delayed less than 0.5 s.
  r.number(t, "delayed_ack_ms", "tcp.delayed_ack_ms", s.delayed_ack_ms, 1, 500);
  r.number(t, "time_wait_ms", "tcp.time_wait_ms", s.time_wait_ms, 1, 600'000);
  r.number(t, "fin_wait2_ms", "tcp.fin_wait2_ms", s.fin_wait2_ms, 1, 3'600'000);
  r.number(t, "syn_retries", "tcp.syn_retries", s.syn_retries, 0, 127);
  r.number(t, "synack_retries", "tcp.synack_retries", s.synack_retries, 0, 127);
  r.number(t, "retries", "tcp.retries", s.retries, 1, 127);
  // Windows up to 2^30 (RFC 7323 §2.3); at least one segment.
  r.number(t, "recv_buffer", "tcp.recv_buffer", s.recv_buffer, 2048, 1 << 30);
  r.number(t, "send_buffer", "tcp.send_buffer", s.send_buffer, 2048, 1 << 30);
  r.number(t, "ooo_max_segments", "tcp.ooo_max_segments", s.ooo_max_segments, 0, 1 << 16);
  r.number(t, "rx_mbufs", "tcp.rx_mbufs", s.rx_mbufs, 64, 1 << 24);
  r.number(t, "tx_mbufs", "tcp.tx_mbufs", s.tx_mbufs, 64, 1 << 24);
  r.number(t, "challenge_ack_rate", "tcp.challenge_ack_rate", s.challenge_ack_rate, 1, 10'000'000);
  r.number(t, "reset_rate", "tcp.reset_rate", s.reset_rate, 1, 10'000'000);
  r.number(t, "invalid_ack_interval_ms", "tcp.invalid_ack_interval_ms", s.invalid_ack_interval_ms, 0, 60'000);
  s.sack = r.boolean(t, "sack", "tcp.sack", s.sack);
  s.timestamps = r.boolean(t, "timestamps", "tcp.timestamps", s.timestamps);
  s.window_scaling = r.boolean(t, "window_scaling", "tcp.window_scaling", s.window_scaling);
  s.tail_loss_probe = r.boolean(t, "tail_loss_probe", "tcp.tail_loss_probe", s.tail_loss_probe);
  s.zero_copy_send = r.boolean(t, "zero_copy_send", "tcp.zero_copy_send", s.zero_copy_send);
  if (const toml::node* n = t.get("congestion")) {
    const std::string cc = r.string(t, "congestion", "tcp.congestion", true);
    if (cc == "newreno") s.congestion = tcp::Congestion::kNewReno;
    else if (cc == "cubic") s.congestion = tcp::Congestion::kCubic;
    else r.fail(n, "tcp.congestion", "'" + cc + "' is neither \"newreno\" nor \"cubic\"");
  }
  if (t.get("min_rto_ms") || t.get("max_rto_ms"))
    if (s.min_rto_ms > s.max_rto_ms) r.fail(t.get("min_rto_ms"), "tcp.min_rto_ms", "must not exceed tcp.max_rto_ms");
  if (const toml::node* n = t.get("ephemeral_ports")) {
    const std::string text = r.string(t, "ephemeral_ports", "tcp.ephemeral_ports", true);
    unsigned lo = 0, hi = 0;
    char extra = 0;
    if (std::sscanf(text.c_str(), "%u-%u%c", &lo, &hi, &extra) != 2 || lo < 1 || hi > 65535 || lo > hi)
      r.fail(n, "tcp.ephemeral_ports", "'" + text + "' is not a range LOW-HIGH within 1-65535, like 32768-60999");
    s.ephemeral_low = uint16_t(lo);
    s.ephemeral_high = uint16_t(hi);
  }
  if (const toml::node* n = t.get("keepalive")) {
    if (!n->is_table()) r.fail(n, "tcp.keepalive", "must be a table ([tcp.keepalive])");
    const toml::table& k = *n->as_table();
    r.only_keys(k, "tcp.keepalive", {"enabled", "idle_s", "interval_s", "probes"});
    s.keepalive.enabled = r.boolean(k, "enabled", "tcp.keepalive.enabled", false);
    r.number(k, "idle_s", "tcp.keepalive.idle_s", s.keepalive.idle_s, 1, 7 * 24 * 3600);
    r.number(k, "interval_s", "tcp.keepalive.interval_s", s.keepalive.interval_s, 1, 3600);
    r.number(k, "probes", "tcp.keepalive.probes", s.keepalive.probes, 1, 127);
  }
  return s;
}

services::ServicesConfig read_services(const Reader& r, const toml::table& t) {
  services::ServicesConfig s;
  r.only_keys(t, "services", {"echo", "discard", "source", "source_bytes", "nodelay", "connect"});
  r.number(t, "echo", "services.echo", s.echo, 0, 65535);
  r.number(t, "discard", "services.discard", s.discard, 0, 65535);
  r.number(t, "source", "services.source", s.source, 0, 65535);
  r.number(t, "source_bytes", "services.source_bytes", s.source_bytes, 0, int64_t(1) << 40);
  s.nodelay = r.boolean(t, "nodelay", "services.nodelay", false);
  const uint16_t ports[] = {s.echo, s.discard, s.source};
  const char* names[] = {"echo", "discard", "source"};
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b)
      if (ports[a] && ports[a] == ports[b])
        r.fail(t.get(names[b]), std::string("services.") + names[b], "port " + std::to_string(ports[b]) + " is services." + names[a] + "'s too");
  if (const toml::node* n = t.get("connect")) {
    if (!n->is_array_of_tables()) r.fail(n, "services.connect", "must be an array of tables ([[services.connect]])");
    size_t i = 0;
    for (auto&& e : *n->as_array()) {
      const toml::table& c = *e.as_table();
      const std::string at = "services.connect[" + std::to_string(i++) + "]";
      r.only_keys(c, at, {"to", "connections", "send_bytes", "start_after_ms"});
      services::ClientConfig cc;
      const std::string to = r.string(c, "to", at + ".to", true);
      const auto colon = to.rfind(':');
      std::optional<net::Ipv4Addr> ip = colon == std::string::npos ? std::nullopt : net::Ipv4Addr::parse(to.substr(0, colon));
      unsigned port = 0;
      char extra = 0;
      if (!ip || std::sscanf(to.c_str() + colon + 1, "%u%c", &port, &extra) != 1 || port < 1 || port > 65535)
        r.fail(c.get("to"), at + ".to", "'" + to + "' is not ADDRESS:PORT like 10.77.2.2:5001");
      cc.ip = *ip;
      cc.port = uint16_t(port);
      r.number(c, "connections", at + ".connections", cc.connections, 1, 1 << 20);
      r.number(c, "send_bytes", at + ".send_bytes", cc.send_bytes, 0, int64_t(1) << 40);
      r.number(c, "start_after_ms", at + ".start_after_ms", cc.start_after_ms, 0, 3'600'000);
      s.connect.push_back(cc);
    }
  }
  return s;
}

}  // namespace redline::app
