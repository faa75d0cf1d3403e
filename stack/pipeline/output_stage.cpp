// The last stage: next hop to MAC (the lock-free neighbor table), Ethernet header, the TX
// queue; fragmentation (RFC 791 §3.2, RFC 1812 §5.2.6) for datagrams larger than the egress
// MTU, and the resolution queue of the ARP owner for next hops not yet known.
//
// Fragments and chains, and MBUF_FAST_FREE: the TX queues may be set up with fast free (where
// the PMD offers it and TCP's zero-copy send, which keeps references to mbufs it sends, is off),
// which requires every mbuf sent to be direct, single-segment and from the one packet pool. So
// nothing chained or indirect reaches a TX queue: a one-segment datagram is
// fragmented by copy (rte_ipv4_fragment_copy_nonseg_packet), a chained one (only reassembled
// datagrams we answer are chained) is fragmented with rte_ipv4_fragment_packet and each
// fragment then copied into one direct mbuf; a chain that fits the MTU is linearized.
#include <rte_ip_frag.h>

#include "stack/arp/neighbor_table.hpp"
#include "stack/pipeline/arp_owner.hpp"
#include "stack/pipeline/builtin_stages.hpp"
#include "stack/pipeline/worker.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::pipeline {

using net::Counter;

void OutputStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  Shared& s = w_.shared();
  // Most of a burst shares a next hop (a gateway, or one busy host): look up each run of equal
  // next hops once.
  Scratch<net::Ipv4Addr, kBurstSlots> unique_hop;
  uint8_t unique_of[kBurstSlots];
  uint32_t nunique = 0;
  for (uint32_t k = 0; k < n; ++k) {
    const net::Ipv4Addr h = b.meta[idx[k]].next_hop;
    if (nunique == 0 || h != unique_hop[nunique - 1]) unique_hop[nunique++] = h;
    unique_of[k] = uint8_t(nunique - 1);
  }
  Scratch<arp::Neighbor, kBurstSlots> neighbor;
  uint64_t hits = 0;
  for (uint32_t base = 0; base < nunique; base += arp::NeighborTable::kBulkMax) {
    const uint32_t chunk = std::min<uint32_t>(nunique - base, arp::NeighborTable::kBulkMax);
    hits |= s.neighbors->lookup_bulk(unique_hop.data() + base, chunk, neighbor.data() + base) << base;
  }
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    const uint32_t u = unique_of[k];
    rte_mbuf* m = b.pkts[slot];
    const PacketMeta& pm = b.meta[slot];
    b.to(slot, kNextDone);
    if (hits & (uint64_t(1) << u)) [[likely]] {
      if (neighbor[u].unreachable()) [[unlikely]] {
        // A next hop that failed to answer a moment ago: refused at once, as Linux does for a
        // FAILED neighbor, rather than queued for another round of requests.
        auto parsed = wire::ipv4::parse(rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen),
                                        rte_pktmbuf_pkt_len(m) - wire::eth::kHeaderLen, false);
        if (parsed.repr)
          w_.send_icmp_error(m, pm.in_port, *parsed.repr, {wire::icmp::kDestUnreachable, wire::icmp::kHostUnreachable, 0},
                             false);
        b.drop(slot, Counter::arp_unreachable);
        continue;
      }
      w_.send_resolved(m, pm.out_port, neighbor[u].mac);
    } else {
      MbufMeta& meta = s.meta(m);
      meta.in_port = pm.in_port;
      meta.out_port = pm.out_port;
      meta.next_hop = pm.next_hop;
      w_.to_arp_owner(m, ArpWork::kResolve);
    }
  }
}

namespace {
// Fragments `m` (its IPv4 header at the start of the data, Ethernet header removed) into
// `out`, each a single direct mbuf. Returns the count, or a negative errno.
[[gnu::cold]] int fragment(rte_mbuf* m, rte_mbuf** out, uint16_t room, uint16_t mtu, const Shared& s) {
  if (m->nb_segs == 1) return rte_ipv4_fragment_copy_nonseg_packet(m, out, room, mtu, s.pool);
  rte_mbuf* parts[RTE_LIBRTE_IP_FRAG_MAX_FRAG * 8];
  int n = rte_ipv4_fragment_packet(m, parts, std::min<uint16_t>(room, uint16_t(RTE_DIM(parts))), mtu, s.pool,
                                   s.indirect_pool);
  if (n < 0) return n;
  int made = 0;
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    rte_mbuf* flat = ok ? rte_pktmbuf_copy(parts[i], s.pool, 0, UINT32_MAX) : nullptr;
    rte_pktmbuf_free(parts[i]);
    if (flat && flat->nb_segs == 1) {
      out[made++] = flat;
      continue;
    }
    if (flat) rte_pktmbuf_free(flat);
    ok = false;
  }
  if (!ok) {
    for (int i = 0; i < made; ++i) rte_pktmbuf_free(out[i]);
    return -ENOMEM;
  }
  return made;
}
}  // namespace

void Worker::send_large(rte_mbuf* m, uint16_t out_port, const net::MacAddr& dst) {
  const PortInfo& port = s_.ports[out_port];
  const uint32_t ip_len = rte_pktmbuf_pkt_len(m) - wire::eth::kHeaderLen;
  if (ip_len <= port.mtu) {
    // A chain that fits: one segment for the TX queue (module comment).
    if (rte_pktmbuf_linearize(m) != 0) return drop(m, Counter::mbuf_chain_unsupported);
    return send_resolved(m, out_port, dst);
  }
  // RFC 1812 §5.2.6: a router must fragment a datagram larger than the MTU when DF is clear
  // (the forward stage already answered DF datagrams with "fragmentation needed"). What
  // redline itself sends (an echo reply to a large ping) is fragmented likewise.
  rte_pktmbuf_adj(m, wire::eth::kHeaderLen);
  uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*);
  const uint16_t flags = wire::load16(ip, wire::ipv4::kFlagsFragment);
  if (flags & wire::ipv4::kFlagDontFragment) {
    // Only our own datagrams get here with DF: we are their source, so we may fragment them.
    wire::store16(ip, wire::ipv4::kFlagsFragment, uint16_t(flags & ~wire::ipv4::kFlagDontFragment));
  }
  rte_mbuf* frags[64];
  const int n = fragment(m, frags, uint16_t(RTE_DIM(frags)), port.mtu, s_);
  rte_pktmbuf_free(m);
  if (n <= 0) return count(Counter::ipv4_fragmentation_failed);
  count(Counter::ipv4_fragmented);
  count(Counter::ipv4_fragments_created, uint64_t(n));
  for (int i = 0; i < n; ++i) {
    rte_mbuf* f = frags[i];
    uint8_t* fip = rte_pktmbuf_mtod(f, uint8_t*);
    // rte_ip_frag leaves each fragment's header checksum to the caller (or the NIC).
    wire::store16(fip, wire::ipv4::kChecksum, 0);
    wire::store16(fip, wire::ipv4::kChecksum, wire::internet_checksum(fip, wire::ipv4::header_len(fip)));
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(f, wire::eth::kHeaderLen));
    if (!eth) {
      drop(f, Counter::ipv4_fragmentation_failed);
      continue;
    }
    wire::eth::write(eth, dst, port.mac, wire::eth::kTypeIpv4);
    transmit(f, out_port);
  }
}

}  // namespace redline::pipeline
