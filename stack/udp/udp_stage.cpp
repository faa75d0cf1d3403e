#include "stack/udp/udp_stage.hpp"

#include <rte_ip.h>
#include <rte_mbuf.h>

#include <algorithm>

#include "stack/pipeline/log.hpp"
#include "stack/pipeline/nic_checksum.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/tcp.hpp"
#include "stack/wire/udp.hpp"

namespace redline::udp {

using net::Counter;
using pipeline::Burst;
using pipeline::kNextDone;

uint32_t Datagram::copy_out(void* out, uint32_t max) const {
  const uint32_t n = std::min(max, len);
  const void* p = rte_pktmbuf_read(m, payload_offset, n, out);
  if (p != out) std::memcpy(out, p, n);
  return n;
}

bool UdpStage::bind(uint16_t port, Handler& h) {
  if (find(port)) return false;
  // One owner per local port (endpoint/local_ports.hpp): not a port the NAT or the kernel path holds.
  if (const endpoint::Claim* c = w_.local_ports().held_by_other(0, wire::ipv4::kProtoUdp, port, endpoint::Family::kService)) {
    w_.count(net::Counter::port_claim_refused);
    REDLINE_LOG_LIMITED(log::Level::kWarning, 1, "udp: worker %u: bind to port %u refused: %s holds it", unsigned(w_.id()),
                        unsigned(port), c->owner.c_str());
    return false;
  }
  bindings_.push_back({port, &h});
  return true;
}

void UdpStage::unbind(uint16_t port) {
  std::erase_if(bindings_, [&](const Binding& b) { return b.port == port; });
}

void UdpStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  rte_mbuf* done[pipeline::kBurstSlots];
  uint32_t ndone = 0;
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    rte_mbuf* m = b.pkts[slot];
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen);
    const uint32_t ihl = wire::ipv4::header_len(ip);
    const uint8_t* l4 = ip + ihl;
    const uint32_t udp_len = wire::udp_datagram_length(ip);
    if (!udp_len) [[unlikely]] {
      b.drop(slot, Counter::udp_truncated);
      continue;
    }
    // Checked before the port is looked up, so a corrupted datagram never draws a port
    // unreachable for a port it may not have named.
    const wire::NicChecksum nic = pipeline::l4_checksum_verdict(m);
    uint16_t chain_sum = 0;
    if (m->nb_segs > 1 && nic == wire::NicChecksum::kUnknown && wire::load16(l4, wire::udp::kChecksum) != 0) {
      uint16_t raw = 0;
      rte_raw_cksum_mbuf(m, uint32_t(wire::eth::kHeaderLen + ihl), udp_len, &raw);
      chain_sum = net::to_be(raw);  // rte_raw_cksum sums native words
    }
    if (!wire::udp_checksum_ok(ip, udp_len, nic, m->nb_segs > 1 ? &chain_sum : nullptr)) {
      b.drop(slot, Counter::udp_bad_checksum);
      continue;
    }
    Handler* h = find(wire::udp::dst_port(l4));
    if (!h || (b.meta[slot].flags & pipeline::kFlagToBroadcast)) {
      b.to(slot, no_listener_);
      continue;
    }
    Datagram d;
    d.src = {wire::ipv4::src(ip).value, wire::udp::src_port(l4)};
    d.dst = {wire::ipv4::dst(ip).value, wire::udp::dst_port(l4)};
    d.len = udp_len - uint32_t(wire::udp::kHeaderLen);
    d.m = m;
    d.payload_offset = uint32_t(wire::eth::kHeaderLen + ihl + wire::udp::kHeaderLen);
    const uint32_t first = std::min<uint32_t>(d.len, rte_pktmbuf_data_len(m) - std::min<uint32_t>(rte_pktmbuf_data_len(m), d.payload_offset));
    d.data = {l4 + wire::udp::kHeaderLen, first};
    w_.count(Counter::udp_delivered);
    if (h->on_datagram(*this, d) == Handler::Then::kEcho) {
      echo(b, slot);
    } else {
      done[ndone++] = m;
      b.to(slot, kNextDone);
    }
  }
  if (ndone) rte_pktmbuf_free_bulk(done, ndone);
}

void UdpStage::echo(Burst& b, uint8_t slot) {
  // The reply in the request's own mbuf: addresses and ports swapped (the UDP checksum is a
  // ones' complement sum, which a swap of two words leaves unchanged), a fresh IP header.
  rte_mbuf* m = b.pkts[slot];
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen);
  const uint32_t ihl = wire::ipv4::header_len(ip);
  uint8_t* l4 = ip + ihl;
  const uint32_t udp_len = wire::load16(l4, wire::udp::kLength);
  const net::Ipv4Addr src = wire::ipv4::src(ip), dst = wire::ipv4::dst(ip);
  const uint16_t sport = wire::udp::src_port(l4), dport = wire::udp::dst_port(l4);
  if (ihl > wire::ipv4::kMinHeaderLen) {
    // Options are not echoed: the header moves up over them (as the ICMP echo does).
    const size_t opt = ihl - wire::ipv4::kMinHeaderLen;
    std::memmove(ip + opt, ip, wire::ipv4::kMinHeaderLen);
    std::memmove(rte_pktmbuf_mtod(m, uint8_t*) + opt, rte_pktmbuf_mtod(m, uint8_t*), wire::eth::kHeaderLen);
    rte_pktmbuf_adj(m, uint16_t(opt));
    ip = rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen);
    l4 = ip + wire::ipv4::kMinHeaderLen;
  }
  wire::ipv4::Repr r;
  r.total_len = uint16_t(wire::ipv4::kMinHeaderLen + udp_len);
  r.ident = ident_++;
  r.ttl = 64;
  r.protocol = wire::ipv4::kProtoUdp;
  r.src = dst;
  r.dst = src;
  wire::ipv4::write(ip, r);
  wire::store16(l4, wire::udp::kSrcPort, dport);
  wire::store16(l4, wire::udp::kDstPort, sport);
  const uint32_t frame_len = uint32_t(wire::eth::kHeaderLen + r.total_len);
  if (rte_pktmbuf_pkt_len(m) > frame_len) rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_pkt_len(m) - frame_len));
  w_.count(Counter::udp_sent);
  b.meta[slot].flags = pipeline::kFlagOriginated;
  b.to(slot, w_.stages().local_out);
}

bool UdpStage::send_to(Endpoint dst, uint16_t src_port, const void* data, size_t len) {
  pipeline::Shared& s = w_.shared();
  const uint32_t hop = s.routes->lookup(net::Ipv4Addr{dst.ip});
  if (hop == ip::RouteTable::kNoRoute || s.routes->hop(hop).kind != ip::NextHop::Kind::kForward) return false;
  const uint16_t port = s.routes->hop(hop).port;
  const size_t total = wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen + wire::udp::kHeaderLen + len;
  rte_mbuf* m = rte_pktmbuf_alloc(s.pool);
  if (!m) {
    w_.count(Counter::mbuf_alloc_failed);
    return false;
  }
  auto* frame = reinterpret_cast<uint8_t*>(total <= UINT16_MAX ? rte_pktmbuf_append(m, uint16_t(total)) : nullptr);
  if (!frame) {
    rte_pktmbuf_free(m);
    return false;
  }
  uint8_t* ip = frame + wire::eth::kHeaderLen;
  uint8_t* l4 = ip + wire::ipv4::kMinHeaderLen;
  const uint16_t udp_len = uint16_t(wire::udp::kHeaderLen + len);
  wire::ipv4::Repr r;
  r.total_len = uint16_t(wire::ipv4::kMinHeaderLen + udp_len);
  r.ident = ident_++;
  r.ttl = 64;
  r.protocol = wire::ipv4::kProtoUdp;
  r.src = s.ports[port].address.addr;
  r.dst = net::Ipv4Addr{dst.ip};
  wire::ipv4::write(ip, r);
  wire::store16(l4, wire::udp::kSrcPort, src_port);
  wire::store16(l4, wire::udp::kDstPort, dst.port);
  wire::store16(l4, wire::udp::kLength, udp_len);
  wire::store16(l4, wire::udp::kChecksum, 0);
  std::memcpy(l4 + wire::udp::kHeaderLen, data, len);
  const uint32_t pseudo = wire::tcp::pseudo_header_sum(r.src.value, r.dst.value, wire::ipv4::kProtoUdp, udp_len);
  uint16_t sum = uint16_t(~wire::ones_complement_sum(l4, udp_len, pseudo));
  wire::store16(l4, wire::udp::kChecksum, sum == 0 ? 0xffff : sum);  // RFC 768: 0 means "none"
  w_.count(Counter::udp_sent);
  return w_.originate(m, port);
}

}  // namespace redline::udp
