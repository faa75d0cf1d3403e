// UDP header (RFC 768).
#pragma once

#include "stack/wire/bytes.hpp"

namespace redline::wire::udp {

constexpr size_t kSrcPort = 0;
constexpr size_t kDstPort = 2;
constexpr size_t kLength = 4;
constexpr size_t kChecksum = 6;
constexpr size_t kHeaderLen = 8;

inline uint16_t src_port(const uint8_t* p) { return load16(p, kSrcPort); }
inline uint16_t dst_port(const uint8_t* p) { return load16(p, kDstPort); }

}  // namespace redline::wire::udp
