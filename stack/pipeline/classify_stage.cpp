// The first stage every received packet meets: Ethernet, IPv4 validity (RFC 1812 §5.2.2),
// martian sources (RFC 1812 §5.3.7) and the core that owns the packet's flow.
#include <rte_prefetch.h>

#include "stack/pipeline/builtin_stages.hpp"
#include "stack/pipeline/frame_check.hpp"
#include "stack/pipeline/nic_checksum.hpp"
#include "stack/pipeline/ownership.hpp"
#include "stack/pipeline/worker.hpp"
#include "stack/wire/ethernet.hpp"

namespace redline::pipeline {

using net::Counter;

namespace {
// Whether `a` is one of our addresses or our networks' broadcasts (not a valid source).
struct IsLocal {
  const Shared& s;
  bool operator()(net::Ipv4Addr a) const { return s.local.find(a).kind != LocalAddresses::Kind::kNone; }
};

// frame_check.hpp's fast test, and what only the mbuf tells: one segment, not from a ring.
bool common_frame(const Shared& s, const rte_mbuf* m, const PacketMeta& pm, const uint8_t* frame) {
  return m->nb_segs == 1 && pm.flags == 0 &&
         common_ipv4_frame(frame, rte_pktmbuf_pkt_len(m), s.ports[pm.in_port].mac, ip_checksum_verdict(m), IsLocal{s});
}

// Headers a stage may read without looking past the first segment: Ethernet, the largest
// IPv4 header and the largest TCP header.
constexpr uint32_t kContiguousHeaders = wire::eth::kHeaderLen + 60 + 60;

// Policy for chained mbufs (the PMDs are set up never to chain received frames: the mbuf data
// room holds a whole frame; reassembly and a PMD that chains anyway are the exceptions): every
// stage may read the headers in the first segment, so a chain whose first segment is shorter
// than the headers is linearized here, in cold code, or dropped when it does not fit.
[[gnu::cold]] bool make_headers_contiguous(rte_mbuf* m) {
  if (rte_pktmbuf_data_len(m) >= std::min<uint32_t>(rte_pktmbuf_pkt_len(m), kContiguousHeaders)) return true;
  return rte_pktmbuf_linearize(m) == 0;
}
}  // namespace

void ClassifyStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  // Every packet's headers on their way before the first is read (the worker prefetched every
  // mbuf header already): frames written on another core arrive as cache misses, and a whole
  // burst of them overlaps. Measured in-process (mbufs from the generator's core): 8% fewer
  // cycles per packet than prefetching six ahead; no change with the lines in cache.
  for (uint32_t k = 0; k < n; ++k) rte_prefetch0(rte_pktmbuf_mtod(b.pkts[idx[k]], void*));
  Shared& s = w_.shared();
  const NextId pre_routing = w_.graph().entry(Hook::kPreRouting);
  const uint32_t me = w_.id();
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    rte_mbuf* m = b.pkts[slot];
    PacketMeta& pm = b.meta[slot];
    const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    if (!common_frame(s, m, pm, frame)) [[unlikely]] {
      b.next[slot] = classify(b, slot);
      continue;
    }
    pm.l3_offset = wire::eth::kHeaderLen;
    pm.l4_offset = wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen;
    pm.owner = uint8_t(s.workers == 1 ? 0 : owner_of(s, m, pm.in_port, frame + wire::eth::kHeaderLen, &pm.flow_hash));
    b.next[slot] = pm.owner == me ? pre_routing : kNextHandoff;
  }
}

// Every packet common_frame() did not pass: the same checks one by one, each failure
// its own counted drop, and what is valid but uncommon (ARP, broadcast frames, options, chains,
// packets handed over from another core).
NextId ClassifyStage::classify(Burst& b, uint8_t slot) {
  rte_mbuf* m = b.pkts[slot];
  PacketMeta& pm = b.meta[slot];
  Shared& s = w_.shared();
  const PortInfo& port = s.ports[pm.in_port];
  if (m->nb_segs > 1 && !make_headers_contiguous(m)) return b.drop(slot, Counter::mbuf_chain_unsupported), kNextDrop;
  const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = rte_pktmbuf_pkt_len(m);
  const EthernetVerdict eth = check_ethernet(frame, rte_pktmbuf_data_len(m), port.mac);
  if (eth.kind == FrameKind::kDrop) return b.drop(slot, eth.drop), kNextDrop;
  if (eth.kind == FrameKind::kArp) return w_.stages().arp;

  const uint8_t* ip = frame + wire::eth::kHeaderLen;
  pm.l3_offset = wire::eth::kHeaderLen;
  if (pm.flags & kFlagFromRing) {
    // Validated by the core that received it.
    pm.l4_offset = uint8_t(wire::eth::kHeaderLen + wire::ipv4::header_len(ip));
    return w_.graph().entry(Hook::kPreRouting);
  }
  // The header lies in the first segment (made so above); the length check covers the chain.
  const Ipv4Verdict v = check_ipv4(ip, len - wire::eth::kHeaderLen, ip_checksum_verdict(m), IsLocal{s});
  if (!v.header_len) [[unlikely]]
    return b.drop(slot, v.drop), kNextDrop;
  pm.l4_offset = uint8_t(wire::eth::kHeaderLen + *v.header_len);

  pm.owner = uint8_t(s.workers == 1 ? 0 : owner_of(s, m, pm.in_port, ip, &pm.flow_hash));
  if (pm.owner != w_.id()) return kNextHandoff;
  return w_.graph().entry(Hook::kPreRouting);
}

}  // namespace redline::pipeline
