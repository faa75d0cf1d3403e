// Choosing a local port so that the replies of a flow redline starts (a NAT mapping, later a
// load balancer's or TCP connect's source port) reach the core that chose it, on a NIC whose
// RSS spreads by the symmetric Toeplitz hash and the RETA mirror (reta.hpp), so neither the
// NIC nor software ever hands those replies to another core.
//
// Alternatives: rte_thash_adjust_tuple (DPDK's answer: it solves for the port bits that give a
// wanted hash, but wants an rte_thash context per key and queue bitmask, and its helper tables
// are built for a fixed RETA size); rte_flow rules per flow (not on every NIC, and a rule per
// session costs far more than a port choice). Choice: Toeplitz is linear over GF(2) in its
// input, so hash(tuple with port p) = hash(tuple with port 0) ^ c(p), where c(p) is what the
// two port bytes contribute. One base hash per choice, then two table lookups and a XOR per
// candidate: testing the ports of a free list until one lands on the right core costs a few
// cycles each, and about `workers` candidates on average.
#pragma once

#include <cstdint>

#include "stack/net/five_tuple.hpp"
#include "stack/rss/hash_input.hpp"
#include "stack/rss/toeplitz.hpp"

namespace redline::rss {

class ReplySteering {
 public:
  // `reply` is the tuple the replies will carry (as they arrive: source the peer, destination
  // us); its dst_port is the port being chosen and is ignored.
  ReplySteering(const Toeplitz& t, const RetaMirror& reta, HashFields fields, net::FiveTuple reply)
      : t_(t), reta_(reta) {
    reply.dst_port = 0;
    uint8_t input[kMaxHashInput];
    const size_t len = tuple_hash_input(reply, fields, input);
    port_matters_ = len == kPortsInputLen;
    base_ = t.hash(input, len);
  }
  // The worker a reply to local port `port_be` (network byte order) reaches.
  uint32_t owner(uint16_t port_be) const {
    if (!port_matters_) return reta_.owner(base_);
    const uint8_t* b = reinterpret_cast<const uint8_t*>(&port_be);
    return reta_.owner(base_ ^ t_.contribution(kDstPortAt, b[0]) ^ t_.contribution(kDstPortAt + 1, b[1]));
  }
  // False when the NIC hashes no ports for this protocol: every port reaches the same worker.
  bool port_matters() const { return port_matters_; }

 private:
  static constexpr size_t kDstPortAt = 10;  // hash_input: src, dst, src port, dst port
  const Toeplitz& t_;
  const RetaMirror& reta_;
  uint32_t base_ = 0;
  bool port_matters_ = false;
};

}  // namespace redline::rss
