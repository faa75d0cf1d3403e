// The AF_XDP ports' pool (drivers/af_xdp_pool.hpp): every mbuf inside the area the PMD declares
// to the kernel as UMEM (first chunk's start, objects x object size), which is what keeps the
// kernel from refusing descriptors some 20 MB into a transfer.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <string>

#include "drivers/af_xdp_pool.hpp"

namespace {

struct Span {
  uintptr_t lo = UINTPTR_MAX, hi = 0;
};

void widen(rte_mempool*, void* span, void* obj, unsigned) {
  auto* s = static_cast<Span*>(span);
  const auto a = reinterpret_cast<uintptr_t>(obj);
  s->lo = std::min(s->lo, a);
  s->hi = std::max(s->hi, a);
}

}  // namespace

TEST(AfXdpPool, EveryMbufLiesWithinTheUmemThePmdDeclares) {
  std::string error;
  constexpr unsigned kMbufs = 4096;
  rte_mempool* mp = redline::drivers::create_af_xdp_pool("t_afxdp_pool", kMbufs, 64, RTE_MBUF_DEFAULT_DATAROOM,
                                                         SOCKET_ID_ANY, &error);
  ASSERT_NE(mp, nullptr) << error;
  EXPECT_EQ(mp->nb_mem_chunks, 1u);
  // DPDK 22.11 net_af_xdp: UMEM = from the first chunk's start, populated_size x the object
  // size with its header and trailer.
  const size_t obj_size = rte_mempool_calc_obj_size(mp->elt_size, mp->flags, nullptr);
  const auto* chunk = STAILQ_FIRST(&mp->mem_list);
  const auto umem_lo = reinterpret_cast<uintptr_t>(chunk->addr);
  const uintptr_t umem_hi = umem_lo + size_t(mp->populated_size) * obj_size;
  Span span;
  EXPECT_EQ(rte_mempool_obj_iter(mp, widen, &span), kMbufs);
  EXPECT_GE(span.lo - mp->header_size, umem_lo);
  EXPECT_LE(span.hi + mp->elt_size + mp->trailer_size, umem_hi) << "the last mbufs lie beyond the UMEM";
  // And they are real mbufs of the asked size.
  rte_mbuf* m = rte_pktmbuf_alloc(mp);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(rte_pktmbuf_data_room_size(mp), RTE_MBUF_DEFAULT_DATAROOM);
  EXPECT_EQ(rte_pktmbuf_headroom(m), RTE_PKTMBUF_HEADROOM);
  rte_pktmbuf_free(m);
  rte_mempool_free(mp);
}

TEST(AfXdpPool, PoolLargerThanMemoryIsAClearError) {
  std::string error;
  rte_mempool* mp = redline::drivers::create_af_xdp_pool("t_afxdp_huge", 64u << 20, 64, RTE_MBUF_DEFAULT_DATAROOM,
                                                         SOCKET_ID_ANY, &error);
  EXPECT_EQ(mp, nullptr);
  EXPECT_NE(error.find("AF_XDP ports' mbuf pool"), std::string::npos) << error;
}
