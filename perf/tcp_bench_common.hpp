// What tcp_bench's rows share: the settings they start from and the handler that discards what
// it receives (the bulk row's server, the stage rows' listener).
#pragma once

#include "stack/tcp/host.hpp"

namespace redline::perf {

inline tcp::Settings bench_settings() {
  tcp::Settings s;
  s.max_connections = 65536;
  return s;
}

class Discard final : public tcp::Listener, public tcp::Handler {
 public:
  uint64_t bytes = 0;
  tcp::Handler* on_accept(tcp::Connection&) override { return this; }
  void on_data(tcp::Connection& c) override {
    bytes += c.readable();
    c.consume(c.readable());
  }
  void on_peer_closed(tcp::Connection& c) override {
    c.consume(c.readable());
    c.close();
  }
};

}  // namespace redline::perf
