// What every fuzz target shares: a reader that takes the input from the front, field by field,
// and a check that stops the run whatever NDEBUG says.
//
// Why not libFuzzer's FuzzedDataProvider: it takes integers from the end of the input and bytes
// from the front, so a seed written by hand (tests/fuzz/make_corpus.py) would have to be laid
// out from both ends. Reading everything in order keeps a seed readable as the sequence of
// steps it drives, and a mutation near the front changes the first steps, as one expects.
// Past the end the reader returns zeros, so every input, however short, is a valid program.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "stack/wire/tcp.hpp"

namespace redline::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}

  bool empty() const { return p_ == end_; }
  size_t left() const { return size_t(end_ - p_); }

  uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  uint16_t u16() { return uint16_t(u8() << 8 | u8()); }
  uint32_t u32() { return uint32_t(u16()) << 16 | u16(); }
  bool flag() { return u8() & 1; }
  // A value in [0, n) (n > 0).
  uint32_t below(uint32_t n) { return n <= 256 ? u8() % n : (n <= 65536 ? u16() % n : u32() % n); }

  // Up to `n` bytes, as many as are left.
  std::vector<uint8_t> bytes(size_t n) {
    n = n < left() ? n : left();
    std::vector<uint8_t> out(p_, p_ + n);
    p_ += n;
    return out;
  }
  // Everything that is left.
  std::vector<uint8_t> rest() { return bytes(left()); }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// An invariant that failed: printed, then abort(), which libFuzzer reports as a crash (and
// keeps the input). Not assert(): the check must hold in every build.
[[noreturn]] inline void failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n", file, line, what);
  std::abort();
}

// RFC 1071 §4.1's algorithm, word by word in network order, the odd byte padded with a zero:
// the reference the stack's checksum routines must agree with. Both yield 0 only when every word
// and `initial` are zero, and otherwise the same value in [1, 0xffff] (the sum modulo 0xffff).
inline uint16_t reference_sum(const uint8_t* p, size_t len, uint32_t initial) {
  uint64_t sum = initial;
  for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t(p[i]) << 8 | p[i + 1];
  if (len & 1) sum += uint32_t(p[len - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

// Equal as a sender and receiver see them: the SACK blocks past sack_count mean nothing (a
// second SACK option in one segment leaves the first one's extra blocks there).
inline bool same_options(const wire::tcp::Options& a, const wire::tcp::Options& b) {
  if (a.mss != b.mss || a.window_shift != b.window_shift || a.sack_permitted != b.sack_permitted ||
      a.has_timestamps != b.has_timestamps || a.sack_count != b.sack_count)
    return false;
  if (a.has_timestamps && (a.ts_val != b.ts_val || a.ts_ecr != b.ts_ecr)) return false;
  for (size_t k = 0; k < a.sack_count; ++k)
    if (!(a.sack[k] == b.sack[k])) return false;
  return true;
}

}  // namespace redline::fuzz

#define FUZZ_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond)) ::redline::fuzz::failed(#cond, __FILE__, __LINE__);       \
  } while (0)
