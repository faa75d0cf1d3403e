#include "drivers/af_xdp_pool.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

namespace redline::drivers {

rte_mempool* create_af_xdp_pool(const char* name, unsigned n, unsigned cache, uint16_t data_room, int socket,
                                std::string* error) {
  const unsigned elt_size = sizeof(rte_mbuf) + unsigned(data_room);
  // No IOVA contiguity asked of the objects: the mempool then ignores page boundaries and packs
  // them (rte_mempool_get_page_size gives 0).
  rte_mempool* mp = rte_mempool_create_empty(name, n, elt_size, cache, sizeof(rte_pktmbuf_pool_private), socket,
                                             RTE_MEMPOOL_F_NO_IOVA_CONTIG);
  if (!mp) {
    *error = std::string("cannot create the AF_XDP ports' mbuf pool: ") + rte_strerror(rte_errno) + " (give EAL more memory)";
    return nullptr;
  }
  auto fail = [&](const std::string& why) -> rte_mempool* {
    *error = "cannot create the AF_XDP ports' mbuf pool: " + why;
    rte_mempool_free(mp);
    return nullptr;
  };
  if (int rc = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr); rc != 0)
    return fail(std::string("mempool ops: ") + rte_strerror(-rc));
  rte_pktmbuf_pool_private priv{};
  priv.mbuf_data_room_size = data_room;
  priv.mbuf_priv_size = 0;
  rte_pktmbuf_pool_init(mp, &priv);
  if (int rc = rte_mempool_populate_default(mp); rc < 0) return fail(std::string(rte_strerror(-rc)) + " (give EAL more memory)");
  // The PMD's UMEM covers one chunk only (af_xdp_pool.hpp).
  if (mp->nb_mem_chunks != 1)
    return fail("its " + std::to_string(n) + " mbufs did not fit one contiguous area (" +
                std::to_string(mp->nb_mem_chunks) + " chunks), which net_af_xdp needs; give EAL more memory");
  rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
  return mp;
}

}  // namespace redline::drivers
