// The built-in services, one set per worker, each an ordinary application of the TCP and UDP
// APIs (the worked examples the API headers point to): echo (RFC 862), discard (RFC 863), a
// source that sends a fixed number of bytes then closes, and clients that connect out at start.
#pragma once

#include <atomic>
#include <memory>

#include "stack/services/services_config.hpp"
#include "stack/tcp/tcp_stage.hpp"
#include "stack/udp/udp_stage.hpp"

namespace redline::services {

// Totals the control thread reads (relaxed: counts, nothing ordered by them).
struct ClientTotals {
  std::atomic<uint32_t> started{0}, done{0}, failed{0};
  std::atomic<uint64_t> bytes_sent{0}, bytes_received{0};
};

// RFC 862 on one connection: sends back what it received as far as the send buffer takes it,
// consumes just that (the rest stays, closing the window: back-pressure), and closes once the
// peer has closed and everything it sent has gone back. The echo service's whole behaviour;
// benchmarks use the same.
void echo_what_fits(tcp::Connection& c);

// Starts the configured services on one worker (called on that worker's core at its first
// iteration). `udp` may be null (UDP services then off).
void start(const ServicesConfig& cfg, tcp::TcpStage& tcp, udp::UdpStage* udp, uint32_t workers, ClientTotals& totals);

}  // namespace redline::services
