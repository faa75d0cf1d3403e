#include "stack/rss/toeplitz.hpp"

namespace redline::rss {

namespace {
// The 32-bit window of the key that starts at bit `bit` (bit 0 = MSB of key[0]).
uint32_t key_window(const Key& key, size_t bit) {
  uint32_t w = 0;
  for (size_t i = 0; i < 32; ++i) {
    size_t b = bit + i;
    uint32_t keybit = b < kKeyLen * 8 ? (key[b / 8] >> (7 - b % 8)) & 1 : 0;
    w = (w << 1) | keybit;
  }
  return w;
}
}  // namespace

uint32_t Toeplitz::hash_reference(const Key& key, const uint8_t* input, size_t len) {
  uint32_t h = 0;
  for (size_t bit = 0; bit < len * 8; ++bit)
    if ((input[bit / 8] >> (7 - bit % 8)) & 1) h ^= key_window(key, bit);
  return h;
}

Toeplitz::Toeplitz(const Key& key) {
  for (size_t pos = 0; pos < kMaxInput; ++pos)
    for (uint32_t byte = 0; byte < 256; ++byte) {
      uint32_t h = 0;
      for (int b = 0; b < 8; ++b)
        if ((byte >> (7 - b)) & 1) h ^= key_window(key, pos * 8 + size_t(b));
      table_[pos][byte] = h;
    }
}

}  // namespace redline::rss
