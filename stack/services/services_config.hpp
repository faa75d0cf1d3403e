// Built-in services ([services] in the config): small applications on redline's own TCP and
// UDP, for tests, demos and benchmarks. Pure data; the services themselves are services.hpp.
#pragma once

#include <cstdint>
#include <vector>

#include "stack/net/types.hpp"

namespace redline::services {

// Connections redline opens itself at start ([[services.connect]]).
struct ClientConfig {
  net::Ipv4Addr ip;
  uint16_t port = 0;
  uint32_t connections = 1;  // spread over the workers: connection i on worker i % workers
  uint64_t send_bytes = 0;   // the "source" pattern then FIN; 0: only receive until the server closes
  uint32_t start_after_ms = 0;  // wait this long after start before connecting
  friend bool operator==(const ClientConfig&, const ClientConfig&) = default;
};

struct ServicesConfig {
  uint16_t echo = 0;     // TCP and UDP echo (RFC 862); 0 = off
  uint16_t discard = 0;  // TCP and UDP discard (RFC 863)
  uint16_t source = 0;   // TCP: sends source_bytes of the pattern on accept, then closes
  uint64_t source_bytes = 1 << 20;
  bool nodelay = false;  // Nagle off on the services' connections
  std::vector<ClientConfig> connect;
  friend bool operator==(const ServicesConfig&, const ServicesConfig&) = default;
};

// The byte at offset `i` of the pattern the source service and clients send: i mod 251 (a prime,
// so the pattern never lines up with segment or buffer sizes). A peer checks what it received
// against the same rule (tests compute its sha256).
constexpr uint8_t pattern_byte(uint64_t i) { return uint8_t(i % 251); }

}  // namespace redline::services
