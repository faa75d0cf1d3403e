#include "stack/pipeline/reassembly.hpp"

#include <rte_errno.h>

namespace redline::pipeline {

std::unique_ptr<Reassembly> Reassembly::create(uint32_t max_datagrams, uint64_t timeout_tsc, int socket,
                                               std::string* error) {
  // Buckets of 16 entries (RTE_IP_FRAG_TBL_BUCKET_ENTRIES), as many as hold max_datagrams.
  constexpr uint32_t kBucketEntries = 16;
  uint32_t buckets = (max_datagrams + kBucketEntries - 1) / kBucketEntries;
  rte_ip_frag_tbl* t = rte_ip_frag_table_create(buckets, kBucketEntries, max_datagrams, timeout_tsc, socket);
  if (!t) {
    *error = std::string("cannot create a reassembly table of ") + std::to_string(max_datagrams) +
             " datagrams: " + rte_strerror(rte_errno);
    return nullptr;
  }
  return std::unique_ptr<Reassembly>(new Reassembly(t));
}

Reassembly::~Reassembly() {
  // Destroying the table frees the fragments it still holds.
  rte_ip_frag_table_destroy(table_);
  free_death_row();
}

uint32_t Reassembly::free_death_row() {
  uint32_t n = death_row_.cnt;
  if (n) rte_ip_frag_free_death_row(&death_row_, 0);
  return n;
}

Reassembly::Result Reassembly::add(rte_mbuf* m, uint16_t l2_len, uint16_t ip_len, uint64_t now_tsc) {
  m->l2_len = l2_len;
  m->l3_len = ip_len;
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, l2_len);
  Result r;
  r.datagram = rte_ipv4_frag_reassemble_packet(table_, &death_row_, m, now_tsc, ip);
  r.freed = free_death_row();
  return r;
}

uint32_t Reassembly::expire(uint64_t now_tsc) {
  rte_ip_frag_table_del_expired_entries(table_, &death_row_, now_tsc);
  return free_death_row();
}

}  // namespace redline::pipeline
