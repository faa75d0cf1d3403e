#include "stack/wire/ipv4.hpp"

namespace redline::wire::ipv4 {

void write(uint8_t* p, const Repr& r) {
  store8(p, kVersionIhl, 0x45);
  store8(p, kTos, r.tos);
  store16(p, kTotalLength, r.total_len);
  store16(p, kIdent, r.ident);
  store16(p, kFlagsFragment, r.flags_fragment);
  store8(p, kTtl, r.ttl);
  store8(p, kProtocol, r.protocol);
  store16(p, kChecksum, 0);
  store_ip(p, kSrc, r.src);
  store_ip(p, kDst, r.dst);
  store16(p, kChecksum, internet_checksum(p, kMinHeaderLen));
}

}  // namespace redline::wire::ipv4
