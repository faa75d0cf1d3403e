// The key of a flow: what connection, NAT session and load-balancer tables are indexed by.
// A fixed-size POD with no padding bytes left undefined, so it can be hashed and compared as
// bytes (rte_hash does both).
#pragma once

#include <cstdint>
#include <type_traits>

namespace redline::net {

struct FiveTuple {
  uint32_t src_ip = 0;    // network byte order, as on the wire
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;  // network byte order
  uint16_t dst_port = 0;
  uint8_t protocol = 0;
  uint8_t pad[3] = {0, 0, 0};  // explicit, always zero: part of the hashed bytes
  friend bool operator==(const FiveTuple&, const FiveTuple&) = default;
};
static_assert(sizeof(FiveTuple) == 16 && std::is_trivially_copyable_v<FiveTuple>);

}  // namespace redline::net
