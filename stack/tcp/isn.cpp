#include "stack/tcp/isn.hpp"

#include <cstring>

namespace redline::tcp {

namespace {
inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
inline void round(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
  v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
  v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
  v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
  v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
}
}  // namespace

uint64_t siphash24(const uint64_t key[2], const uint8_t* data, uint32_t len) {
  uint64_t v0 = 0x736f6d6570736575ull ^ key[0], v1 = 0x646f72616e646f6dull ^ key[1];
  uint64_t v2 = 0x6c7967656e657261ull ^ key[0], v3 = 0x7465646279746573ull ^ key[1];
  const uint32_t whole = len & ~7u;
  for (uint32_t i = 0; i < whole; i += 8) {
    uint64_t m;
    std::memcpy(&m, data + i, 8);
    v3 ^= m;
    round(v0, v1, v2, v3);
    round(v0, v1, v2, v3);
    v0 ^= m;
  }
  uint64_t b = uint64_t(len) << 56;
  for (uint32_t i = 0; i < (len & 7); ++i) b |= uint64_t(data[whole + i]) << (8 * i);
  v3 ^= b;
  round(v0, v1, v2, v3);
  round(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) round(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t IsnGenerator::isn(uint32_t local_ip, uint16_t local_port, uint32_t remote_ip, uint16_t remote_port,
                           uint64_t now_us) const {
  uint8_t in[12];
  std::memcpy(in, &local_ip, 4);
  std::memcpy(in + 4, &remote_ip, 4);
  std::memcpy(in + 8, &local_port, 2);
  std::memcpy(in + 10, &remote_port, 2);
  return uint32_t(now_us / 4) + uint32_t(siphash24(key_, in, sizeof in));
}

uint32_t IsnGenerator::ts_offset(uint32_t local_ip, uint32_t remote_ip) const {
  // 9 bytes, so no input of isn() (12 bytes) hashes the same.
  uint8_t in[9];
  std::memcpy(in, &local_ip, 4);
  std::memcpy(in + 4, &remote_ip, 4);
  in[8] = 'T';
  return uint32_t(siphash24(key_, in, sizeof in));
}

}  // namespace redline::tcp
