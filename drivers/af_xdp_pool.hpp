// The mbuf pool AF_XDP ports receive into, laid out as DPDK 22.11's net_af_xdp assumes.
//
// The PMD registers the pool's memory with the kernel as the socket's UMEM: from the first
// memory chunk's start, (objects x object size) bytes long. That holds only if the objects are
// packed back to back in one chunk. rte_pktmbuf_pool_create does not promise it: with pages of
// 4 KiB (EAL --no-huge) it keeps every object within a page, one 2.3 KiB mbuf per 4 KiB page, so
// the pool spans 1.7 times the UMEM the PMD declares (and with 2 MiB pages a few objects per page
// stick out); a pool that did not fit one memzone comes in several chunks. Descriptors for mbufs
// beyond the UMEM are invalid to the kernel: it drops them (tx_invalid_descs) and in copy mode
// stops draining the TX ring at one, so the port goes silent some 20 MB into a transfer, once
// the pool's rotation reaches those mbufs. Objects that need not be IOVA-contiguous (the kernel
// copies or maps by virtual address) are packed without page padding; the pool is refused if it
// is not one chunk.
#pragma once

#include <cstdint>
#include <string>

struct rte_mempool;

namespace redline::drivers {

// A pktmbuf pool of `n` mbufs with `data_room` bytes each, in one chunk of densely packed
// objects; null with `error` set when it cannot be made so.
rte_mempool* create_af_xdp_pool(const char* name, unsigned n, unsigned cache, uint16_t data_room, int socket,
                                std::string* error);

}  // namespace redline::drivers
