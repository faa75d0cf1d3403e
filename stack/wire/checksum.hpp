// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
#pragma once

#include <cstddef>
#include <cstdint>

namespace redline::wire {

// Ones' complement sum of `len` bytes folded to 16 bits, not yet inverted. `initial` lets a
// pseudo-header sum be carried in.
uint16_t ones_complement_sum(const uint8_t* data, size_t len, uint32_t initial = 0);

// The checksum field value for `data` (whose checksum field must be zero or be included so
// that verification yields zero).
inline uint16_t internet_checksum(const uint8_t* data, size_t len) {
  return uint16_t(~ones_complement_sum(data, len));
}

// True when the bytes, checksum field included, verify (sum folds to 0xffff).
inline bool checksum_ok(const uint8_t* data, size_t len) {
  return ones_complement_sum(data, len) == 0xffff;
}

// Verification of an IPv4 header (`len` a multiple of 4, 20 to 60): the same RFC 1071 sum as
// checksum_ok, inlined because it runs for every packet on ports without checksum offload.
// Summed as 32-bit words into a 64-bit integer: since 2^16 = 1 (mod 0xffff), the ones'
// complement sum of the 16-bit words is that integer mod 0xffff (0 read as 0xffff), so the
// header verifies exactly when the integer is a nonzero multiple of 0xffff (zero only for
// all-zero bytes, whose sum folds to 0, not 0xffff). Swapping the bytes of every word keeps a
// multiple of 0xffff one, so byte order does not matter. A multiply by a constant instead of
// four folds.
inline bool ipv4_header_checksum_ok(const uint8_t* p, size_t len) {
  uint64_t acc = 0;
  if (len == 20) [[likely]] {
    // No options, nearly every packet: five words from three loads, no loop to set up (the
    // general loop below, vectorized, was a third of the classify stage's cycles).
    uint64_t a, b;
    uint32_t c;
    __builtin_memcpy(&a, p, 8);
    __builtin_memcpy(&b, p + 8, 8);
    __builtin_memcpy(&c, p + 16, 4);
    acc = (a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32) + c;
  } else {
    for (size_t i = 0; i < len; i += 4) {
      uint32_t w;
      __builtin_memcpy(&w, p + i, 4);
      acc += w;
    }
  }
  return acc != 0 && acc % 0xffff == 0;
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word changing from `old_word` to
// `new_word`. Handles the 0x0000/0xffff corner that eqn. 2 of RFC 1141 got wrong.
constexpr uint16_t checksum_update16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  uint32_t sum = uint16_t(~checksum) + uint16_t(~old_word) + uint32_t(new_word);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace redline::wire
