// Reading and writing big-endian fields at named offsets of a byte buffer.
// memcpy keeps every access alignment-safe and free of aliasing traps; compilers turn it into
// a single load plus bswap. Never cast a packed struct over packet memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "stack/net/types.hpp"

namespace redline::wire {

inline uint8_t load8(const uint8_t* p, size_t off) { return p[off]; }
inline void store8(uint8_t* p, size_t off, uint8_t v) { p[off] = v; }

inline uint16_t load16(const uint8_t* p, size_t off) {
  uint16_t v;
  std::memcpy(&v, p + off, 2);
  return net::to_be(v);
}
inline void store16(uint8_t* p, size_t off, uint16_t v) {
  v = net::to_be(v);
  std::memcpy(p + off, &v, 2);
}
inline uint32_t load32(const uint8_t* p, size_t off) {
  uint32_t v;
  std::memcpy(&v, p + off, 4);
  return net::to_be(v);
}
inline void store32(uint8_t* p, size_t off, uint32_t v) {
  v = net::to_be(v);
  std::memcpy(p + off, &v, 4);
}

// The bytes as they sit, in network byte order (keys that are hashed and compared as bytes).
inline uint16_t load_raw16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_raw32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void store_raw16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline net::Ipv4Addr load_ip(const uint8_t* p, size_t off) { return net::Ipv4Addr{load32(p, off)}; }
inline void store_ip(uint8_t* p, size_t off, net::Ipv4Addr a) { store32(p, off, a.value); }

inline net::MacAddr load_mac(const uint8_t* p, size_t off) {
  net::MacAddr m;
  std::memcpy(m.bytes.data(), p + off, 6);
  return m;
}
inline void store_mac(uint8_t* p, size_t off, const net::MacAddr& m) {
  std::memcpy(p + off, m.bytes.data(), 6);
}

}  // namespace redline::wire
