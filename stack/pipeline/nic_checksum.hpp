// What a NIC's RX offload said about a received frame's checksums (the mbuf's ol_flags), as the
// pure checks (wire/l4_checks.hpp, pipeline/frame_check.hpp) take it.
#pragma once

#include <rte_mbuf.h>

#include "stack/wire/l4_checks.hpp"

namespace redline::pipeline {

inline wire::NicChecksum nic_verdict(uint64_t flags, uint64_t mask, uint64_t good, uint64_t bad) {
  const uint64_t f = flags & mask;
  return f == good ? wire::NicChecksum::kGood : f == bad ? wire::NicChecksum::kBad : wire::NicChecksum::kUnknown;
}
inline wire::NicChecksum ip_checksum_verdict(const rte_mbuf* m) {
  return nic_verdict(m->ol_flags, RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD, RTE_MBUF_F_RX_IP_CKSUM_BAD);
}
inline wire::NicChecksum l4_checksum_verdict(const rte_mbuf* m) {
  return nic_verdict(m->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD, RTE_MBUF_F_RX_L4_CKSUM_BAD);
}

}  // namespace redline::pipeline
