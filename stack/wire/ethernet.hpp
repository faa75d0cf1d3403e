// Ethernet II header (IEEE 802.3 clause 3.2.6 type field).
#pragma once

#include "stack/wire/bytes.hpp"

namespace redline::wire::eth {

constexpr size_t kDst = 0;
constexpr size_t kSrc = 6;
constexpr size_t kType = 12;
constexpr size_t kHeaderLen = 14;

constexpr uint16_t kTypeIpv4 = 0x0800;
constexpr uint16_t kTypeArp = 0x0806;

inline net::MacAddr dst(const uint8_t* f) { return load_mac(f, kDst); }
inline net::MacAddr src(const uint8_t* f) { return load_mac(f, kSrc); }
inline uint16_t type(const uint8_t* f) { return load16(f, kType); }

// The destination compared in place: a 4-byte and a 2-byte compare, no copy of the address.
inline bool dst_is(const uint8_t* f, const net::MacAddr& mac) { return std::memcmp(f + kDst, mac.bytes.data(), 6) == 0; }
inline bool dst_is_broadcast(const uint8_t* f) { return load_raw32(f + kDst) == 0xffffffffu && load_raw16(f + kDst + 4) == 0xffff; }

inline void write(uint8_t* f, const net::MacAddr& dst_mac, const net::MacAddr& src_mac, uint16_t ethertype) {
  store_mac(f, kDst, dst_mac);
  store_mac(f, kSrc, src_mac);
  store16(f, kType, ethertype);
}

}  // namespace redline::wire::eth
