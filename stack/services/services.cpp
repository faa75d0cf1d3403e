#include "stack/services/services.hpp"

#include <array>

#include "stack/pipeline/log.hpp"

namespace redline::services {

namespace {

using tcp::Connection;

// 64 KiB of the pattern plus one period, so a run of up to 64 KiB starts at any phase.
const std::array<uint8_t, 65536 + 251>& pattern_block() {
  static const auto block = [] {
    std::array<uint8_t, 65536 + 251> b{};
    for (size_t i = 0; i < b.size(); ++i) b[i] = pattern_byte(i);
    return b;
  }();
  return block;
}

// Sends the pattern from offset *sent up to `total` as far as the send buffer takes it.
void send_pattern(Connection& c, uint64_t* sent, uint64_t total) {
  const auto& block = pattern_block();
  while (*sent < total) {
    const size_t want = size_t(std::min<uint64_t>(total - *sent, 65536));
    const size_t n = c.send(block.data() + *sent % 251, want);
    *sent += n;
    if (n < want) return;  // full: on_writable calls again
  }
}

// A connection's progress (bytes sent) lives in Connection::user, so one handler serves every
// connection.
uint64_t progress(const Connection& c) { return uint64_t(reinterpret_cast<uintptr_t>(c.user)); }
void set_progress(Connection& c, uint64_t v) { c.user = reinterpret_cast<void*>(uintptr_t(v)); }
// Sends the pattern on from the connection's progress up to `total`.
void send_pattern_on(Connection& c, uint64_t total) {
  uint64_t sent = progress(c);
  send_pattern(c, &sent, total);
  set_progress(c, sent);
}

// RFC 862: what arrives goes back. What the send buffer cannot take stays unread, which closes
// the window towards the client: back-pressure end to end.
class TcpEcho final : public tcp::Listener, public tcp::Handler {
 public:
  explicit TcpEcho(bool nodelay) : nodelay_(nodelay) {}
  tcp::Handler* on_accept(Connection& c) override {
    c.set_nodelay(nodelay_);
    return this;
  }
  void on_data(Connection& c) override { echo_what_fits(c); }
  void on_writable(Connection& c) override { echo_what_fits(c); }
  void on_peer_closed(Connection& c) override { echo_what_fits(c); }

 private:
  bool nodelay_;
};

// RFC 863: what arrives is thrown away.
class TcpDiscard final : public tcp::Listener, public tcp::Handler {
 public:
  tcp::Handler* on_accept(Connection&) override { return this; }
  void on_data(Connection& c) override { c.consume(c.readable()); }
  void on_peer_closed(Connection& c) override {
    c.consume(c.readable());
    c.close();
  }
};

// Sends `bytes` of the pattern to whoever connects, then closes (input is discarded).
class TcpSource final : public tcp::Listener, public tcp::Handler {
 public:
  TcpSource(uint64_t bytes, bool nodelay) : bytes_(bytes), nodelay_(nodelay) {}
  tcp::Handler* on_accept(Connection& c) override {
    c.set_nodelay(nodelay_);
    set_progress(c, 0);
    pump(c);
    return this;
  }
  void on_data(Connection& c) override { c.consume(c.readable()); }
  void on_writable(Connection& c) override { pump(c); }
  void on_peer_closed(Connection& c) override {
    c.consume(c.readable());
    if (progress(c) >= bytes_) c.close();
  }

 private:
  void pump(Connection& c) {
    send_pattern_on(c, bytes_);
    if (progress(c) >= bytes_) c.shutdown();
  }
  uint64_t bytes_;
  bool nodelay_;
};

// Connections opened at start: each sends `send_bytes` of the pattern then FIN, or (0) reads
// until the server closes. Results go to the shared totals and the log.
class TcpClient final : public tcp::Handler {
 public:
  TcpClient(const ClientConfig& cfg, ClientTotals& totals) : cfg_(cfg), totals_(totals) {}
  void on_connected(Connection& c) override {
    set_progress(c, 0);
    pump(c);
  }
  void on_data(Connection& c) override {
    totals_.bytes_received.fetch_add(c.readable(), std::memory_order_relaxed);
    c.consume(c.readable());
  }
  void on_writable(Connection& c) override { pump(c); }
  void on_peer_closed(Connection& c) override {
    on_data(c);
    if (cfg_.send_bytes == 0 || progress(c) >= cfg_.send_bytes) c.close();
  }
  void on_closed(Connection& c, tcp::Error e) override {
    if (e == tcp::Error::kNone && progress(c) >= cfg_.send_bytes) {
      totals_.done.fetch_add(1, std::memory_order_relaxed);
    } else {
      totals_.failed.fetch_add(1, std::memory_order_relaxed);
      log::write(log::Level::kWarning, "services: connection to %s:%u ended: %s", cfg_.ip.to_string().c_str(), cfg_.port,
                 tcp::error_name(e));
    }
  }

 private:
  void pump(Connection& c) {
    const uint64_t before = progress(c);
    send_pattern_on(c, cfg_.send_bytes);
    totals_.bytes_sent.fetch_add(progress(c) - before, std::memory_order_relaxed);
    if (progress(c) >= cfg_.send_bytes) c.shutdown();
  }
  ClientConfig cfg_;
  ClientTotals& totals_;
};

// Opens a client's connections (this worker's share) when its start delay has passed.
class ClientStarter {
 public:
  ClientStarter(tcp::TcpStage& tcp, TcpClient& client, const ClientConfig& cfg, uint32_t workers, ClientTotals& totals)
      : tcp_(tcp), client_(client), cfg_(cfg), workers_(workers), totals_(totals) {
    timer_.set_callback(&ClientStarter::fire, this);
  }
  ~ClientStarter() { tcp_.worker().timers().cancel(timer_); }
  void arm() {
    pipeline::Worker& w = tcp_.worker();
    w.timers().schedule(timer_, w.now_tick() + w.ns_to_ticks(uint64_t(cfg_.start_after_ms) * 1'000'000));
  }

 private:
  static void fire(timer::Timer&, void* ctx) {
    auto* s = static_cast<ClientStarter*>(ctx);
    tcp::Host& host = s->tcp_.host();
    host.set_now(s->tcp_.worker().now_tick());
    for (uint32_t i = s->tcp_.worker().id(); i < s->cfg_.connections; i += s->workers_) {
      s->totals_.started.fetch_add(1, std::memory_order_relaxed);
      if (!host.connect({s->cfg_.ip.value, s->cfg_.port}, s->client_)) {
        s->totals_.failed.fetch_add(1, std::memory_order_relaxed);
        log::write(log::Level::kWarning, "services: cannot connect to %s:%u (no route, port or room)",
                   s->cfg_.ip.to_string().c_str(), s->cfg_.port);
      }
    }
  }
  tcp::TcpStage& tcp_;
  TcpClient& client_;
  ClientConfig cfg_;
  uint32_t workers_;
  ClientTotals& totals_;
  timer::Timer timer_;
};

class UdpEcho final : public udp::Handler {
 public:
  Then on_datagram(udp::UdpStage&, const udp::Datagram&) override { return Then::kEcho; }
};

class UdpDiscard final : public udp::Handler {
 public:
  Then on_datagram(udp::UdpStage&, const udp::Datagram&) override { return Then::kFree; }
};

template <typename T, typename... Args>
T& make(tcp::TcpStage& owner, Args&&... args) {
  auto p = std::make_shared<T>(std::forward<Args>(args)...);
  owner.keep(p);
  return *p;
}

}  // namespace

void echo_what_fits(tcp::Connection& c) {
  // The mbufs the bytes arrived in go back out as they are (zero copy both ways), as far as the
  // send buffer takes them; the rest waits, so the window closes towards a client that sends
  // faster than it reads.
  c.send_received(c, c.readable());
  // The client closed and everything it sent has been echoed: close our side too.
  if (c.state() == tcp::State::kCloseWait && c.readable() == 0) c.close();
}

void start(const ServicesConfig& cfg, tcp::TcpStage& tcp, udp::UdpStage* udp, uint32_t workers, ClientTotals& totals) {
  tcp::Host& host = tcp.host();
  if (cfg.echo) {
    host.listen(cfg.echo, make<TcpEcho>(tcp, cfg.nodelay));
    if (udp) udp->bind(cfg.echo, make<UdpEcho>(tcp));
  }
  if (cfg.discard) {
    host.listen(cfg.discard, make<TcpDiscard>(tcp));
    if (udp) udp->bind(cfg.discard, make<UdpDiscard>(tcp));
  }
  if (cfg.source) host.listen(cfg.source, make<TcpSource>(tcp, cfg.source_bytes, cfg.nodelay));
  for (const ClientConfig& c : cfg.connect) {
    auto& client = make<TcpClient>(tcp, c, totals);
    make<ClientStarter>(tcp, tcp, client, c, workers, totals).arm();
  }
}

}  // namespace redline::services
