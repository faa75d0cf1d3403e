// Initial sequence numbers (RFC 6528 §3): ISN = M + F(localip, localport, remoteip, remoteport,
// secretkey), M a clock ticking every 4 µs, F a keyed pseudo-random function. F here is
// SipHash-2-4 (Aumasson & Bernstein), the keyed hash Linux uses for the same job, with a
// 128-bit key drawn once per process. Pure: the caller supplies the key and the clock.
#pragma once

#include <cstdint>

namespace redline::tcp {

uint64_t siphash24(const uint64_t key[2], const uint8_t* data, uint32_t len);

class IsnGenerator {
 public:
  IsnGenerator(uint64_t k0, uint64_t k1) : key_{k0, k1} {}
  // Addresses and ports in host order; `now_us` any microsecond clock.
  uint32_t isn(uint32_t local_ip, uint16_t local_port, uint32_t remote_ip, uint16_t remote_port, uint64_t now_us) const;
  // The offset added to the timestamp clock for TSval (RFC 7323 §5.4, §7.1): secret, but the same
  // for every connection between two addresses, as Linux's secure_tcp_ts_off. Were it drawn per
  // connection, a new connection's SYN could carry a TSval below the last one its 4-tuple's
  // TIME-WAIT saw, and RFC 6191 reuse would fail at random.
  uint32_t ts_offset(uint32_t local_ip, uint32_t remote_ip) const;

 private:
  uint64_t key_[2];
};

}  // namespace redline::tcp
