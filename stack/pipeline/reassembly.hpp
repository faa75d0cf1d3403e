// Reassembly of IPv4 datagrams addressed to us (RFC 791 §3.2, RFC 1122 §3.3.2), per core, on
// DPDK's rte_ip_frag table: bounded in datagrams and in time, every refusal counted.
//
// All fragments of a datagram reach the same core because fragments are owned by the hash of
// their addresses only (classify_stage.cpp), as the NIC hashes them. The whole datagram may
// belong to another core once its ports are known; the local stage hands it over then.
#pragma once

#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <memory>
#include <string>

namespace redline::pipeline {

class Reassembly {
 public:
  // `max_datagrams` in reassembly at once; a datagram's fragments live `timeout_tsc` cycles.
  static std::unique_ptr<Reassembly> create(uint32_t max_datagrams, uint64_t timeout_tsc, int socket,
                                            std::string* error);
  ~Reassembly();
  Reassembly(const Reassembly&) = delete;
  Reassembly& operator=(const Reassembly&) = delete;

  struct Result {
    rte_mbuf* datagram = nullptr;  // the whole datagram (chained) when `m` completed it
    uint32_t freed = 0;            // fragments the table refused or evicted, now freed
  };
  // Takes fragment `m` whose IPv4 header starts `l2_len` bytes in (its header is `ip_len`).
  Result add(rte_mbuf* m, uint16_t l2_len, uint16_t ip_len, uint64_t now_tsc);
  // Frees fragments of datagrams that timed out; returns how many.
  uint32_t expire(uint64_t now_tsc);

 private:
  explicit Reassembly(rte_ip_frag_tbl* t) : table_(t) {}
  uint32_t free_death_row();
  rte_ip_frag_tbl* table_;
  rte_ip_frag_death_row death_row_{};
};

}  // namespace redline::pipeline
