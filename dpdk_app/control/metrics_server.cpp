#include "dpdk_app/control/metrics_server.hpp"

#include "dpdk_app/control/listen_address.hpp"

#include <civetweb.h>

#include <cstring>
#include <mutex>

namespace redline::app {

namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& addr_port, std::function<std::string()> render,
                                                    std::string* error) {
  std::string why;
  if (!valid_listen_address(addr_port, &why)) {
    *error = "metrics: cannot listen on '" + addr_port + "': " + why;
    return nullptr;
  }
  // Once per process, before any server starts (civetweb says it is not thread-safe; a static
  // local makes it once), never undone: tests start several servers in one process. With no
  // feature asked for (no TLS) it cannot fail; its result is the features set up, here none.
  [[maybe_unused]] static const unsigned features = mg_init_library(0);

  std::unique_ptr<MetricsServer> server(new MetricsServer);
  server->render_ = std::move(render);
  server->address_ = addr_port;
  // Two request threads (plus civetweb's accepting thread): Prometheus scrapes one at a time,
  // and the second keeps a stuck client from blocking the next scrape; civetweb's default is 50.
  // No document_root: civetweb serves no files, only the handler below.
  const char* options[] = {"listening_ports", addr_port.c_str(),
                           "num_threads", "2",
                           "request_timeout_ms", "5000",
                           "enable_keep_alive", "no",
                           nullptr};
  mg_callbacks callbacks{};
  // While starting, civetweb says why it cannot listen only through its log ("cannot bind to
  // 127.0.0.1:9469: 98 (Address already in use)"); mg_start2's own error text is generic
  // ("Failed to setup server ports"). So the log is kept while starting, to become the error.
  // Afterwards it reports per-connection trouble (a client that hangs up): a scraper's manners
  // are not redline's problem, so that stays quiet rather than going to stderr.
  callbacks.log_message = [](const mg_connection* conn, const char* message) {
    auto* self = static_cast<MetricsServer*>(mg_get_user_data(mg_get_context(conn)));
    if (self) {
      std::lock_guard lock(self->start_log_mu_);
      if (self->starting_) self->start_log_ += (self->start_log_.empty() ? "" : "; ") + std::string(message);
    }
    return 1;
  };
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = options;
  char text[256] = {};
  unsigned code = 0;
  mg_error_data err{};
  err.code = &code;
  err.text = text;
  err.text_buffer_size = sizeof text;
  server->ctx_ = mg_start2(&init, &err);
  {
    std::lock_guard lock(server->start_log_mu_);
    server->starting_ = false;
    if (!server->ctx_) {
      *error = "metrics: cannot listen on " + addr_port + ": " +
               (!server->start_log_.empty() ? server->start_log_ : text[0] ? text : "civetweb could not start");
      return nullptr;
    }
    server->start_log_.clear();
  }
  // "**" matches every path, so one handler decides between /metrics and 404 (civetweb's own
  // fallback would be to look for files).
  mg_set_request_handler(server->ctx_, "**", &MetricsServer::handle, server.get());
  return server;
}

MetricsServer::~MetricsServer() {
  if (ctx_) mg_stop(ctx_);  // joins civetweb's threads
}

int MetricsServer::handle(mg_connection* conn, void* self) {
  const mg_request_info* req = mg_get_request_info(conn);
  const char* uri = req->local_uri ? req->local_uri : "";
  if (std::strcmp(uri, "/metrics") != 0) {
    mg_send_http_error(conn, 404, "%s", "not found: redline serves /metrics only\n");
    return 404;
  }
  const bool head = std::strcmp(req->request_method, "HEAD") == 0;
  if (!head && std::strcmp(req->request_method, "GET") != 0) {
    mg_send_http_error(conn, 405, "%s", "method not allowed: GET /metrics\n");
    return 405;
  }
  std::string body;
  try {
    body = static_cast<MetricsServer*>(self)->render_();
  } catch (const std::exception& e) {  // never let an exception unwind through C frames
    mg_send_http_error(conn, 500, "cannot render metrics: %s\n", e.what());
    return 500;
  }
  mg_send_http_ok(conn, kContentType, static_cast<long long>(body.size()));
  if (!head) mg_write(conn, body.data(), body.size());
  return 200;
}

}  // namespace redline::app
