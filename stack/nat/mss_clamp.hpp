// TCP MSS clamping: lowers the MSS option (RFC 9293 §3.7.1) of a SYN crossing the NAT to what
// the path beyond it carries (a tunnel, PPPoE), for hosts whose path-MTU discovery is broken by
// filtered ICMP (RFC 4459 §3.2 names this remedy).
#pragma once

#include <cstddef>
#include <cstdint>

#include "stack/nat/rewrite.hpp"
#include "stack/wire/bytes.hpp"
#include "stack/wire/checksum.hpp"

namespace redline::nat {

// `tcp` points at a TCP header with `len` bytes available. Returns true if an MSS option above
// `mss` was found and lowered (the checksum patched, RFC 1624).
inline bool clamp_mss(uint8_t* tcp, size_t len, uint16_t mss) {
  constexpr size_t kDataOffset = 12;
  constexpr size_t kOptions = 20;
  if (len < kOptions) return false;
  const size_t header = size_t(tcp[kDataOffset] >> 4) * 4;
  if (header < kOptions || header > len) return false;
  for (size_t i = kOptions; i < header;) {
    const uint8_t kind = tcp[i];
    if (kind == 0) return false;  // end of option list
    if (kind == 1) {              // no-operation
      ++i;
      continue;
    }
    if (i + 1 >= header) return false;
    const uint8_t olen = tcp[i + 1];
    if (olen < 2 || i + olen > header) return false;  // malformed: leave it to the endpoint
    if (kind == 2 && olen == 4) {
      const uint16_t old_mss = wire::load16(tcp, i + 2);
      if (old_mss <= mss) return false;
      // The option may sit at an odd offset; the checksum sums aligned words, so patch the
      // aligned word(s) the two bytes fall in.
      const size_t w = (i + 2) & ~size_t(1);
      const bool odd = w != i + 2;
      const uint16_t w0 = wire::load16(tcp, w), w1 = odd ? wire::load16(tcp, w + 2) : 0;
      wire::store16(tcp, i + 2, mss);
      uint16_t c = wire::load16(tcp, kTcpChecksum);
      c = wire::checksum_update16(c, w0, wire::load16(tcp, w));
      if (odd) c = wire::checksum_update16(c, w1, wire::load16(tcp, w + 2));
      wire::store16(tcp, kTcpChecksum, c);
      return true;
    }
    i += olen;
  }
  return false;
}

}  // namespace redline::nat
