// Software Toeplitz hash, bit-for-bit the NIC's (Microsoft RSS spec) and rte_softrss's. The
// owner-core mirror of the NIC's redirection table is in reta.hpp, what is hashed in
// hash_input.hpp.
//
// Problem: a flow must be handled by one core, and that core must be known before the packet is
// touched (ports without RSS, handoff) and before a flow exists (choosing local ports).
// Alternatives: hash in software per packet with rte_softrss (bit loop: ~100 ns per tuple), or
// trust mbuf->hash.rss (absent on net_tap/net_ring). Choice: a byte-table Toeplitz (12 lookups per
// IPv4 4-tuple) used where the NIC gave no hash, and the NIC's hash where it did: both agree
// because both use the same key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

// RetaMirror used to live here; the pipeline still reaches it through this header.
#include "stack/rss/reta.hpp"

namespace redline::rss {

constexpr size_t kKeyLen = 40;
using Key = std::array<uint8_t, kKeyLen>;

// 0x6d5a repeated: Toeplitz with this key gives the same hash for (a,b,pa,pb) and (b,a,pb,pa),
// so both directions of a flow land on one core ("Scalable TCP Session Monitoring with
// Symmetric Receive-side Scaling", Woo & Park).
constexpr Key symmetric_key() {
  Key k{};
  for (size_t i = 0; i < kKeyLen; i += 2) {
    k[i] = 0x6d;
    k[i + 1] = 0x5a;
  }
  return k;
}

// Toeplitz over inputs of up to kMaxInput bytes, one 256-entry table per input byte.
class Toeplitz {
 public:
  static constexpr size_t kMaxInput = 12;  // IPv4 src, dst, src port, dst port (hash_input.hpp)
  explicit Toeplitz(const Key& key);

  // `input` in network byte order, exactly as the fields sit in the packet.
  uint32_t hash(const uint8_t* input, size_t len) const {
    uint32_t h = 0;
    for (size_t i = 0; i < len; ++i) h ^= table_[i][input[i]];
    return h;
  }

  // What byte `b` at input position `pos` adds (XORs) to the hash: Toeplitz is linear in its
  // input, so changing one field changes the hash by the difference of its contributions
  // (port_steering.hpp predicts owners of candidate ports this way).
  uint32_t contribution(size_t pos, uint8_t b) const { return table_[pos][b]; }
  // Reference bit-serial form of the algorithm, for tests.
  static uint32_t hash_reference(const Key& key, const uint8_t* input, size_t len);

 private:
  std::array<std::array<uint32_t, 256>, kMaxInput> table_;
};

}  // namespace redline::rss
