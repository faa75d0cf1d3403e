#include "stack/wire/checksum.hpp"

#include <bit>
#include <cstring>

namespace redline::wire {

uint16_t ones_complement_sum(const uint8_t* data, size_t len, uint32_t initial) {
  // Sum 32-bit big-endian-agnostic chunks in a 64-bit accumulator: the ones' complement sum
  // is byte-order independent (RFC 1071 §2(B)), so we add native words and swap once at the end.
  uint64_t acc = 0;
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, data, 8);
    acc += w >> 32;
    acc += w & 0xffffffffu;
    data += 8;
    len -= 8;
  }
  while (len >= 2) {
    uint16_t w;
    std::memcpy(&w, data, 2);
    acc += w;
    data += 2;
    len -= 2;
  }
  if (len) {
    uint16_t w = 0;
    std::memcpy(&w, data, 1);  // odd byte is the high-order byte of a zero-padded word
    acc += w;
  }
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  uint16_t native = uint16_t(acc);
  // Native words on a little-endian host summed to a byte-swapped result; swap it back.
  uint16_t be = std::endian::native == std::endian::little ? uint16_t((native >> 8) | (native << 8))
                                                           : native;
  // `initial` is a host-order partial sum; fold it in.
  uint32_t sum = uint32_t(be) + initial;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

}  // namespace redline::wire
