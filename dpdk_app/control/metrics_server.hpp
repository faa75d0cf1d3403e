// GET /metrics over HTTP, for Prometheus.
//
// Problem: a scrape arrives over TCP through the kernel (a management interface, not a port
// redline owns), and must be answered without ever running on a worker lcore. Alternatives:
// answering from the control loop (a hand-written HTTP parser and a poll in the 20 ms loop:
// the house rule is to use a library for what a library does, and a slow scrape would delay
// signals), or an embedded server with threads of its own. The choice: civetweb (Debian's
// libcivetweb), started with a small fixed pool of threads. Those threads are plain pthreads
// created from the main lcore, so they inherit its CPU affinity (the control CPU), never a
// worker's. They call `render` concurrently; it must be thread-safe (PrometheusScraper is).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

struct mg_context;
struct mg_connection;

namespace redline::app {

class MetricsServer {
 public:
  // Listens on `addr_port` ("127.0.0.1:9469", "[::1]:9469"); serves `render()`'s text on
  // GET/HEAD /metrics as `text/plain; version=0.0.4`, 404 on every other path. On failure
  // (malformed address, port in use, address not local) returns null and sets `error`.
  static std::unique_ptr<MetricsServer> start(const std::string& addr_port, std::function<std::string()> render,
                                              std::string* error);
  // Stops listening and waits for requests in progress: `render` is not called after this.
  ~MetricsServer();

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const std::string& address() const { return address_; }

 private:
  MetricsServer() = default;
  static int handle(mg_connection* conn, void* self);

  std::function<std::string()> render_;
  std::string address_;
  mg_context* ctx_ = nullptr;
  std::mutex start_log_mu_;   // civetweb may log from its threads once they run
  bool starting_ = true;      // guarded by start_log_mu_
  std::string start_log_;     // guarded by start_log_mu_: civetweb's messages while starting
};

}  // namespace redline::app
