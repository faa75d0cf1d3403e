// The engine's parts of a session entry (session_table.hpp), apart so that pure code (a
// feature's view of its sessions, its unit tests) needs no DPDK.
#pragma once

#include <concepts>
#include <cstdint>

#include "stack/net/five_tuple.hpp"
#include "stack/timer/timer_wheel.hpp"

namespace redline::session {

using net::FiveTuple;

// The part of a session written on every packet.
struct Stamp {
  uint32_t last_used = 0;  // low 32 bits of the worker's tick at the session's last packet
  uint8_t protocol = 0;    // the keys' IP protocol; 0 marks a free entry (listings skip it)
  uint8_t flags = 0;       // the feature's own
};

// The part read when a session is made, listed and ended.
struct Header {
  timer::Timer timer;  // idle expiry (lazily re-armed: see on_idle)
  FiveTuple key[2];    // [0] as the initiator sends it, [1] as the answers arrive
};

template <class E>
concept SessionEntry = std::default_initializable<E> && requires(E e) {
  { e.stamp } -> std::convertible_to<Stamp&>;
  { e.header } -> std::convertible_to<Header&>;
};

}  // namespace redline::session
