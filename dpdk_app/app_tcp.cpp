// TCP, UDP and the built-in services in the appliance: setting them up per worker, and
// `show tcp` / `show connections`.
#include <sys/random.h>

#include <cstdio>

#include "dpdk_app/app.hpp"
#include "stack/pipeline/log.hpp"
#include "stack/services/services.hpp"

namespace redline::app {

bool App::setup_tcp(const Config& config, std::string* error) {
  pipeline::Shared& s = *shared_;
  tcp_ = std::make_unique<tcp::TcpShared>();
  tcp_->settings = config.tcp;
  // RFC 6528 §3: the ISN function's key is secret and random, drawn once per run.
  if (getrandom(tcp_->isn_key, sizeof tcp_->isn_key, 0) != sizeof tcp_->isn_key) {
    *error = "tcp: cannot draw the ISN secret from getrandom()";
    return false;
  }
  udp_stages_.assign(s.workers, nullptr);
  client_totals_ = std::make_unique<services::ClientTotals>();
  const services::ServicesConfig svc = config.services;
  const uint32_t workers = s.workers;
  tcp_->start = [this, svc, workers](tcp::TcpStage& t) {
    services::start(svc, t, udp_stages_[t.worker().id()], workers, *client_totals_);
  };
  // UDP first, so the TCP feature's start callback finds each worker's UDP stage.
  s.features.push_back([this](pipeline::StageGraph& g, pipeline::Worker& w) {
    auto stage = std::make_unique<udp::UdpStage>(w, g.local(wire::ipv4::kProtoUdp));
    udp_stages_[w.id()] = stage.get();
    g.set_local(wire::ipv4::kProtoUdp, g.add(std::move(stage)));
  });
  tcp::add_tcp_feature(s, *tcp_);
  const tcp::Settings& t = config.tcp;
  log::write(log::Level::kInfo,
             "tcp: up to %u connections per worker, buffers %u/%u bytes, sack %s, timestamps %s, window scaling %s, "
             "min RTO %u ms",
             t.max_connections, t.recv_buffer, t.send_buffer, t.sack ? "on" : "off", t.timestamps ? "on" : "off",
             t.window_scaling ? "on" : "off", t.min_rto_ms);
  if (svc.echo || svc.discard || svc.source || !svc.connect.empty())
    log::write(log::Level::kInfo, "services: echo %u, discard %u, source %u (%llu bytes), %zu connect targets", svc.echo,
               svc.discard, svc.source, (unsigned long long)svc.source_bytes, svc.connect.size());
  return true;
}

App::Json App::show_tcp() const {
  Json workers = Json::array();
  uint64_t conns = 0, tw = 0;
  for (size_t w = 0; tcp_ && w < tcp_->stages.size(); ++w) {
    const tcp::TcpStage* st = tcp_->stages[w];
    const uint32_t c = st ? st->connections() : 0, t = st ? st->time_wait() : 0;
    conns += c;
    tw += t;
    workers.push_back({{"worker", w}, {"connections", c}, {"time_wait", t}});
  }
  Json clients = Json::object();
  if (client_totals_) {
    const services::ClientTotals& c = *client_totals_;
    clients = {{"started", c.started.load()},
               {"done", c.done.load()},
               {"failed", c.failed.load()},
               {"bytes_sent", c.bytes_sent.load()},
               {"bytes_received", c.bytes_received.load()}};
  }
  return {{"connections", conns}, {"time_wait", tw}, {"workers", workers}, {"clients", clients}};
}

App::Json App::show_connections() const {
  Json lines = Json::array();
  for (size_t w = 0; tcp_ && w < tcp_->stages.size(); ++w) {
    tcp::TcpStage* st = tcp_->stages[w];
    std::string text;
    if (!st || !st->dump(&text, 1000)) {
      lines.push_back({{"worker", w}, {"error", "worker did not answer within 1 s"}});
      continue;
    }
    size_t at = 0;
    while (at < text.size()) {
      const size_t nl = text.find('\n', at);
      lines.push_back({{"worker", w}, {"connection", text.substr(at, nl - at)}});
      at = nl == std::string::npos ? text.size() : nl + 1;
    }
  }
  return {{"connections", lines}};
}

void App::print_tcp(std::FILE* out) const {
  if (!tcp_) return;
  for (size_t w = 0; w < tcp_->stages.size(); ++w) {
    tcp::TcpStage* st = tcp_->stages[w];
    if (!st) continue;
    std::fprintf(out, "tcp worker %zu connections %u time_wait %u\n", w, st->connections(), st->time_wait());
    std::string text;
    if (launched_ && st->dump(&text, 500)) {
      size_t at = 0;
      while (at < text.size()) {
        const size_t nl = text.find('\n', at);
        std::fprintf(out, "tcp worker %zu %s\n", w, text.substr(at, nl - at).c_str());
        at = nl == std::string::npos ? text.size() : nl + 1;
      }
    }
  }
  if (client_totals_ && client_totals_->started.load())
    std::fprintf(out, "tcp clients started %u done %u failed %u bytes_sent %llu bytes_received %llu\n",
                 client_totals_->started.load(), client_totals_->done.load(), client_totals_->failed.load(),
                 (unsigned long long)client_totals_->bytes_sent.load(), (unsigned long long)client_totals_->bytes_received.load());
  std::fflush(out);
}

}  // namespace redline::app
