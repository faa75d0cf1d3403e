// ICMP messages (RFC 792) and the quoting rules for errors (RFC 1812 §4.3.2.3).
#pragma once

#include "stack/wire/bytes.hpp"
#include "stack/wire/checksum.hpp"

namespace redline::wire::icmp {

constexpr size_t kType = 0;
constexpr size_t kCode = 1;
constexpr size_t kChecksum = 2;
constexpr size_t kRest = 4;       // identifier+sequence, unused, or next-hop MTU
constexpr size_t kHeaderLen = 8;

constexpr uint8_t kEchoReply = 0;
constexpr uint8_t kDestUnreachable = 3;
constexpr uint8_t kRedirect = 5;
constexpr uint8_t kEchoRequest = 8;
constexpr uint8_t kTimeExceeded = 11;
constexpr uint8_t kParameterProblem = 12;

// Destination unreachable codes (RFC 792; RFC 1812 §5.2.7.1).
constexpr uint8_t kNetUnreachable = 0;
constexpr uint8_t kHostUnreachable = 1;
constexpr uint8_t kProtocolUnreachable = 2;
constexpr uint8_t kPortUnreachable = 3;
constexpr uint8_t kFragmentationNeeded = 4;
constexpr uint8_t kTtlExceededInTransit = 0;

// RFC 1812 §4.3.2.3: quote as much of the original datagram as fits in 576 bytes.
constexpr size_t kMaxErrorDatagram = 576;

inline uint8_t type(const uint8_t* p) { return load8(p, kType); }
inline uint8_t code(const uint8_t* p) { return load8(p, kCode); }

// Error types are the ones that must never trigger another error (RFC 1122 §3.2.2).
constexpr bool is_error(uint8_t t) {
  return t == kDestUnreachable || t == kRedirect || t == kTimeExceeded || t == kParameterProblem ||
         t == 4 /* source quench */;
}

// Rewrites an echo request of `len` bytes in place into its reply (RFC 792 "Echo or Echo Reply
// Message"): only the type changes, so the checksum is patched incrementally. The ICMP checksum
// covers the message alone, so a reply with identifier, sequence number and data all zero sums
// to +0 and needs 0xffff, where RFC 1624 eqn. 3 gives 0x0000, which does not verify; whenever
// eqn. 3 gives 0x0000 the message sums to +0 or -0 and 0xffff verifies for both, so that is sent.
inline void echo_request_to_reply(uint8_t* p) {
  uint16_t old_word = load16(p, kType);
  store8(p, kType, kEchoReply);
  const uint16_t c = checksum_update16(load16(p, kChecksum), old_word, load16(p, kType));
  store16(p, kChecksum, c == 0 ? 0xffff : c);
}

// Writes an error header (type, code, rest-of-header word) before `quoted_len` quoted bytes
// that already sit at p + kHeaderLen, and computes the checksum over both.
inline void write_error(uint8_t* p, uint8_t t, uint8_t c, uint32_t rest, size_t quoted_len) {
  store8(p, kType, t);
  store8(p, kCode, c);
  store16(p, kChecksum, 0);
  store32(p, kRest, rest);
  store16(p, kChecksum, internet_checksum(p, kHeaderLen + quoted_len));
}

}  // namespace redline::wire::icmp
