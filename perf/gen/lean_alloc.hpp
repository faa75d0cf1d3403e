// Allocating the generator's mbufs without writing cache lines that already hold what they need.
//
// Problem: rte_pktmbuf_alloc_bulk resets every field, among them `next` and `tx_offload` in the
// mbuf's second cache line. When the device under test leaves that line out of the generator's
// cache (redline never touches it on the forwarding path), the reset costs the generator a miss
// per packet, and the generator, not the device, sets the rate: measured in-process, it could not
// send more than 11.4 Mpps to redline (paced at 14) while it sent 17.5 to a macswap loop.
// The same holds, more subtly, for the first line: in-process the device reads it on another
// core, and a store by the generator to a line the other core holds must first take it back
// (a round trip between cores), even when the value stored is the one already there. A device
// that writes the line (testpmd's macswap sets the mbuf's TX fields) hands it back modified in
// one transfer; one that only reads it (redline) left the generator 26 cycles per frame worse
// off than macswap for nothing.
// Choice: take mbufs from the pool and set only what the first line holds, storing a field only
// when it differs. The rest already holds what the reset would write: the mbuf library returns
// mbufs to their pool with next NULL, nb_segs 1 and refcnt 1 (rte_pktmbuf_prefree_seg), and a
// zero ol_flags keeps any PMD from reading tx_offload, vlan_tci or the rest. Measured
// in-process: the generator's cost per frame sent 53 -> 12-17 cycles towards redline, 24 -> 13-19
// towards macswap, so that neither device's rate is the generator's.
#pragma once

#include <rte_mbuf.h>

namespace redline::gen {

namespace detail {
template <typename T, typename V>
inline void set_if_different(T& field, V value) {
  if (field != T(value)) field = T(value);
}
}  // namespace detail

// `frame_len` bytes of data each (as rte_pktmbuf_append would leave them), at the headroom.
inline int lean_alloc_bulk(rte_mempool* pool, rte_mbuf** mbufs, unsigned n, uint16_t frame_len) {
  if (rte_mempool_get_bulk(pool, reinterpret_cast<void**>(mbufs), n) != 0) return -ENOENT;
  for (unsigned i = 0; i < n; ++i) {
    rte_mbuf* m = mbufs[i];
    detail::set_if_different(m->data_off, RTE_MIN(uint16_t(RTE_PKTMBUF_HEADROOM), m->buf_len));
    detail::set_if_different(m->data_len, frame_len);
    detail::set_if_different(m->pkt_len, uint32_t(frame_len));
    detail::set_if_different(m->ol_flags, m->ol_flags & RTE_MBUF_F_EXTERNAL);
    detail::set_if_different(m->packet_type, 0u);
    detail::set_if_different(m->port, RTE_MBUF_PORT_INVALID);
    __rte_mbuf_sanity_check(m, 1);
  }
  return 0;
}

}  // namespace redline::gen
