// The kernel exception path (shared.hpp KernelPath): traffic for our addresses that no stage of
// redline handles goes to a TAP whose kernel side carries the same address, so sshd, BIRD or
// dhclient run beside redline on it; what the kernel sends there leaves by redline's own
// routing, as VPP's linux-cp plugin mirrors interfaces into Linux.
//
// The TAP is polled every ~50 us, not every loop: each poll of a TAP is a system call (~1 us),
// and the kernel's traffic (SSH, BGP, DHCP) is light. The kernel's ARP is answered here with a
// MAC of its own for every address, so all it sends reaches redline, which resolves the real
// neighbor itself: one ARP table (redline's), and the kernel never speaks on the wire.
#include <rte_ethdev.h>

#include "stack/pipeline/worker.hpp"
#include "stack/wire/arp.hpp"
#include "stack/wire/ethernet.hpp"

namespace redline::pipeline {

using net::Counter;

// The arrival port's path when it has one (Linux takes any of its addresses on any
// interface, and its reverse-path check wants the interface the peer is on), else the path of
// the port owning `dst` (*owner set: the frame must then be re-addressed to that TAP's MAC).
const KernelPath* Worker::kernel_path_for(uint16_t in_port, net::Ipv4Addr dst, int* owner) const {
  *owner = -1;
  if (in_port < s_.kernel.size() && s_.kernel[in_port]) return s_.kernel[in_port].get();
  const int p = s_.local.port_of(dst);
  if (p < 0 || size_t(p) >= s_.kernel.size() || !s_.kernel[size_t(p)]) return nullptr;
  *owner = p;
  return s_.kernel[size_t(p)].get();
}

bool Worker::to_kernel(rte_mbuf* m, uint16_t in_port, net::Ipv4Addr dst, uint8_t protocol, uint16_t src_port,
                       uint16_t dst_port, bool tcp_reply) {
  int owner;
  const KernelPath* k = kernel_path_for(in_port, dst, &owner);
  if (!k || !(protocol == 1 ? k->rules.any() : k->rules.matches(protocol, src_port, dst_port, tcp_reply))) return false;
  // Each passed packet is a system call on the TAP (~1 us) in this loop: a flood must not stall
  // forwarding, so the path is rate-limited per worker.
  if (!kernel_limit_.allow(now_ns())) {
    drop(m, Counter::kernel_dropped);
    return true;
  }
  // The frame is addressed to the arrival port's MAC, which that port's TAP carries too.
  if (owner >= 0) wire::eth::write(rte_pktmbuf_mtod(m, uint8_t*), s_.ports[size_t(owner)].mac,
                                   wire::eth::src(rte_pktmbuf_mtod(m, const uint8_t*)), wire::eth::kTypeIpv4);
  if (id_ < k->queues && rte_eth_tx_burst(k->dpdk_id, uint16_t(id_), &m, 1) == 1) {
    count(Counter::kernel_to);
  } else {
    drop(m, Counter::kernel_dropped);
  }
  return true;
}

uint32_t Worker::poll_kernel() {
  next_kernel_poll_ = now_tsc_ + s_.tsc_hz / 20000;  // 50 us
  uint32_t handled = 0;
  rte_mbuf* pkts[kMaxBurst];
  for (uint16_t p = 0; p < s_.kernel.size(); ++p) {
    const KernelPath* k = s_.kernel[p].get();
    if (!k || id_ >= k->queues) continue;
    const uint16_t n = rte_eth_rx_burst(k->dpdk_id, uint16_t(id_), pkts, kMaxBurst);
    for (uint16_t i = 0; i < n; ++i) from_kernel(pkts[i], p);
    handled += n;
  }
  return handled;
}

void Worker::from_kernel(rte_mbuf* m, uint16_t p) {
  const KernelPath& k = *s_.kernel[p];
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  if (rte_pktmbuf_data_len(m) < wire::eth::kHeaderLen) return drop(m, Counter::kernel_dropped);
  const uint16_t type = wire::eth::type(frame);
  if (type == wire::eth::kTypeIpv4) {
    count(Counter::kernel_from);
    // Broadcast, multicast, or a MAC the kernel chose itself (a DHCP server answering a client
    // that has no address yet): onto the port's link as the kernel addressed it, from the port.
    if (wire::eth::dst(frame) != k.peer_mac) {
      wire::eth::write(frame, wire::eth::dst(frame), s_.ports[p].mac, wire::eth::kTypeIpv4);
      return transmit(m, p);
    }
    // Routed as redline's own traffic: local-out, post-routing, output with redline's ARP.
    originate(m, p);
    return;
  }
  if (type == wire::eth::kTypeArp) {
    auto parsed = wire::arp::parse(frame + wire::eth::kHeaderLen, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen);
    if (parsed.repr && parsed.repr->operation == wire::arp::kOpRequest) {
      // RFC 826 reply from "everyone": the kernel sends whatever it sends to us.
      const wire::arp::Repr& req = *parsed.repr;
      const wire::arp::Repr reply{wire::arp::kOpReply, k.peer_mac, req.target_ip, req.sender_mac, req.sender_ip};
      wire::eth::write(frame, req.sender_mac, k.peer_mac, wire::eth::kTypeArp);
      wire::arp::write(frame + wire::eth::kHeaderLen, reply);
      if (id_ < k.queues && rte_eth_tx_burst(k.dpdk_id, uint16_t(id_), &m, 1) == 1) return;
      return drop(m, Counter::kernel_dropped);
    }
    rte_pktmbuf_free(m);  // the kernel's gratuitous ARP and replies: nothing to learn
    return;
  }
  drop(m, Counter::kernel_dropped);  // IPv6 and the rest: the exception path is IPv4
}

}  // namespace redline::pipeline
