#include "stack/tcp/tcp_stage.hpp"

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "stack/pipeline/log.hpp"
#include "stack/pipeline/nic_checksum.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::tcp {

using net::Counter;
using pipeline::Burst;
using pipeline::kNextDone;
namespace f = wire::tcp;

// --- MbufEnv ---

MbufEnv::MbufEnv(pipeline::Worker& w, endpoint::PortRange ephemeral) : w_(w), ephemeral_(ephemeral) {
  for (const pipeline::PortInfo& p : w.shared().ports) max_mtu_ = std::max<uint32_t>(max_mtu_, p.mtu);
}

rte_mbuf* MbufEnv::frame_in_place(const SegmentOut& s, uint16_t headers) {
  const Chunk* c = s.conn->payload_in_one_chunk(s.offset, s.len);
  if (!c) return nullptr;
  auto* m = static_cast<rte_mbuf*>(c->owner);
  // The headers go in front of the payload, over bytes nothing else may be reading: only when
  // the send queue's reference is the buffer's only one. Any other means an earlier frame of
  // this buffer is still on its way out (on a TX queue until the PMD frees it, or waiting for
  // ARP), or another queue holds bytes of it (a receive queue, a chunk of the same buffer
  // before this one): then the payload is copied instead.
  if (rte_mbuf_refcnt_read(m) != 1 || RTE_MBUF_CLONED(m) || m->nb_segs != 1) return nullptr;
  if (RTE_MBUF_HAS_EXTBUF(m) && rte_mbuf_ext_refcnt_read(m->shinfo) != 1) return nullptr;
  auto* base = static_cast<uint8_t*>(m->buf_addr);
  if (c->data < base + headers) return nullptr;
  rte_mbuf_refcnt_update(m, 1);  // the TX path's reference; the send queue keeps its own
  m->data_off = uint16_t(c->data - base - headers);
  m->data_len = uint16_t(headers + s.len);
  m->pkt_len = m->data_len;
  // Whatever the buffer last carried (a received frame's flags, hash, packet type) is not ours.
  m->ol_flags &= RTE_MBUF_F_EXTERNAL;
  m->packet_type = 0;
  m->tx_offload = 0;
  m->vlan_tci = 0;
  return m;
}

bool MbufEnv::send(const SegmentOut& s) {
  if (w_.originate_room() == 0) return false;  // the iteration has sent all it may: later
  pipeline::Shared& sh = w_.shared();
  const size_t opt_len = f::options_len(s.opt);
  // The engine cuts segments to the MSS its route's MTU allows; a frame beyond every port's MTU
  // means that bound failed (a peer's option slipping past a check). It is refused here, before
  // the 16-bit lengths below could wrap or the payload copy run past an mbuf, and counted; the
  // segment is treated as sent and lost, so the connection's timers, not this loop, give up.
  const size_t whole_ip = wire::ipv4::kMinHeaderLen + f::kMinHeaderLen + opt_len + s.len;
  if (whole_ip > max_mtu_) [[unlikely]] {
    w_.count(Counter::tcp_tx_oversize);
    return true;
  }
  const uint16_t tcp_len = uint16_t(f::kMinHeaderLen + opt_len + s.len);
  const uint16_t ip_len = uint16_t(wire::ipv4::kMinHeaderLen + tcp_len);
  const uint16_t headers = uint16_t(wire::eth::kHeaderLen + ip_len - s.len);
  rte_mbuf* m = s.len && s.conn->host().settings().zero_copy_send ? frame_in_place(s, headers) : nullptr;
  const bool in_place = m != nullptr;
  uint8_t* frame;
  if (in_place) {
    frame = rte_pktmbuf_mtod(m, uint8_t*);
    w_.count(Counter::tcp_tx_zero_copy);
  } else {
    m = rte_pktmbuf_alloc(sh.pool);
    frame = m ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(wire::eth::kHeaderLen + ip_len))) : nullptr;
    if (!frame) {
      rte_pktmbuf_free(m);  // null-safe
      w_.count(Counter::mbuf_alloc_failed);
      return false;
    }
    if (s.len) w_.count(Counter::tcp_tx_copied);
  }
  uint8_t* ip = frame + wire::eth::kHeaderLen;
  wire::ipv4::Repr r;
  r.total_len = ip_len;
  r.ident = ident_++;
  r.flags_fragment = wire::ipv4::kFlagDontFragment;  // RFC 1191: TCP does path-MTU discovery
  r.ttl = 64;
  r.protocol = wire::ipv4::kProtoTcp;
  r.src = net::Ipv4Addr{s.src.ip};
  r.dst = net::Ipv4Addr{s.dst.ip};
  wire::ipv4::write(ip, r);
  uint8_t* tcp = ip + wire::ipv4::kMinHeaderLen;
  const size_t hl = f::write_header(tcp, s.h, s.opt);
  if (s.len && !in_place) s.conn->copy_payload(s.offset, s.len, tcp + hl);
  // RFC 9293 §3.1: the checksum covers the pseudo-header, header and payload.
  const uint32_t pseudo = f::pseudo_header_sum(s.src.ip, s.dst.ip, wire::ipv4::kProtoTcp, tcp_len);
  wire::store16(tcp, f::kChecksum, uint16_t(~wire::ones_complement_sum(tcp, tcp_len, pseudo)));
  const int port = sh.local.port_of(r.src);
  return w_.originate(m, uint16_t(port < 0 ? 0 : port));
}

Chunk MbufEnv::alloc() {
  rte_mbuf* m = rte_pktmbuf_alloc(w_.shared().pool);
  if (!m) return {};
  return {m, rte_pktmbuf_mtod(m, uint8_t*), 0, rte_pktmbuf_tailroom(m)};
}

uint32_t MbufEnv::rx_buffer_size() const {
  // The whole pool element: mbuf header, headroom and data room.
  const rte_mempool* pool = w_.shared().pool;
  return pool ? pool->elt_size : 2048;
}

void MbufEnv::retain(void* owner) { rte_mbuf_refcnt_update(static_cast<rte_mbuf*>(owner), 1); }

void MbufEnv::release(void* owner) { rte_pktmbuf_free(static_cast<rte_mbuf*>(owner)); }

Endpoint MbufEnv::route(uint32_t remote_ip, uint16_t* mss) {
  const pipeline::Shared& s = w_.shared();
  const uint32_t i = s.routes->lookup(net::Ipv4Addr{remote_ip});
  if (i == ip::RouteTable::kNoRoute) return {};
  const ip::NextHop& hop = s.routes->hop(i);
  if (hop.kind != ip::NextHop::Kind::kForward) return {};
  const pipeline::PortInfo& port = s.ports[hop.port];
  // RFC 9293 §3.7.1 / RFC 879: MSS = MTU minus the fixed IPv4 and TCP headers.
  *mss = uint16_t(port.mtu - wire::ipv4::kMinHeaderLen - f::kMinHeaderLen);
  return {port.address.addr.value, 0};
}

uint16_t MbufEnv::take_local_port(uint32_t local_ip, Endpoint remote, const std::function<bool(uint16_t)>& usable) {
  const endpoint::Picked p = w_.local_ports().take_for_connection(
      wire::ipv4::kProtoTcp, net::to_be(local_ip), net::to_be(remote.ip), net::to_be(remote.port), ephemeral_, usable);
  if (!p.port && p.refused_by_claim) w_.count(net::Counter::port_claim_refused);
  return p.port;
}

void MbufEnv::release_local_port(uint32_t local_ip, uint16_t port) {
  w_.local_ports().release_connection_port(wire::ipv4::kProtoTcp, net::to_be(local_ip), port);
}

bool MbufEnv::may_listen(uint16_t port) {
  const endpoint::Claim* c = w_.local_ports().held_by_other(0, wire::ipv4::kProtoTcp, port, endpoint::Family::kService);
  if (!c) return true;
  w_.count(net::Counter::port_claim_refused);
  REDLINE_LOG_LIMITED(log::Level::kWarning, 1, "tcp: worker %u: listen on port %u refused: %s holds it", unsigned(w_.id()),
                      unsigned(port), c->owner.c_str());
  return false;
}

// --- TcpStage ---

TcpStage::TcpStage(pipeline::Worker& w, TcpShared& shared) : WorkerStage(w), shared_(shared), env_(w, {shared.settings.ephemeral_low, shared.settings.ephemeral_high}) {
  std::string error;
  auto table = pipeline::FlowTable::create("tcp_conns_" + std::to_string(w.id()), shared.settings.max_connections,
                                           int(rte_socket_id()), nullptr, &error);
  if (!table) throw std::runtime_error("tcp: " + error);
  index_ = std::make_unique<FlowIndex>(std::move(table));
  const uint64_t ticks_per_s = w.ns_to_ticks(1'000'000'000);
  host_ = std::make_unique<Host>(env_, *index_, w.timers(), ticks_per_s, shared.settings, shared.isn_key);
  host_->set_now(w.now_tick());
}

TcpStage::~TcpStage() {
  // Every connection's mbufs back to the pool before the application counts them.
  host_.reset();
  owned_.clear();
}

uint32_t TcpStage::on_iteration() {
  host_->set_now(w_.now_tick());
  if (!started_) [[unlikely]] {
    started_ = true;
    if (shared_.start) shared_.start(*this);
  }
  host_->poll();
  const HostStats st = host_->stats();
  connections_.store(st.connections, std::memory_order_relaxed);
  time_wait_.store(st.time_wait, std::memory_order_relaxed);
  return 0;
}

void TcpStage::run(Burst& b, const uint8_t* idx, uint32_t n) {
  host_->set_now(w_.now_tick());
  net::FiveTuple keys[pipeline::kBurstSlots];
  uint8_t slots[pipeline::kBurstSlots];
  uint8_t* l4s[pipeline::kBurstSlots];
  uint32_t lens[pipeline::kBurstSlots];
  uint32_t good = 0;
  for (uint32_t k = 0; k < n; ++k) {
    const uint8_t slot = idx[k];
    rte_mbuf* m = b.pkts[slot];
    if (m->nb_segs > 1 && rte_pktmbuf_linearize(m) != 0) [[unlikely]] {
      b.drop(slot, Counter::mbuf_chain_unsupported);
      continue;
    }
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen);
    uint8_t* l4 = ip + wire::ipv4::header_len(ip);
    const uint32_t l4_len = wire::tcp_segment_length(ip);
    if (!l4_len) [[unlikely]] {
      b.drop(slot, Counter::tcp_truncated);
      continue;
    }
    // RFC 1122 §4.2.3.10: a segment to a broadcast address is discarded.
    if (b.meta[slot].flags & pipeline::kFlagToBroadcast) [[unlikely]] {
      b.drop(slot, Counter::tcp_no_listener);
      continue;
    }
    if (!wire::tcp_checksum_ok(ip, l4_len, pipeline::l4_checksum_verdict(m))) {
      b.drop(slot, Counter::tcp_bad_checksum);
      continue;
    }
    net::FiveTuple& key = keys[good];
    key = {};
    key.src_ip = wire::load_raw32(ip + wire::ipv4::kSrc);
    key.dst_ip = wire::load_raw32(ip + wire::ipv4::kDst);
    key.src_port = wire::load_raw16(l4 + f::kSrcPort);
    key.dst_port = wire::load_raw16(l4 + f::kDstPort);
    key.protocol = wire::ipv4::kProtoTcp;
    slots[good] = slot;
    l4s[good] = l4;
    lens[good] = l4_len;
    ++good;
  }
  void* found[pipeline::kBurstSlots];
  const uint64_t hits = good ? index_->table().find_bulk(keys, good, found) : 0;
  rte_mbuf* dead[pipeline::kBurstSlots];
  uint32_t ndead = 0;
  for (uint32_t k = 0; k < good; ++k) {
    const uint8_t slot = slots[k];
    rte_mbuf* m = b.pkts[slot];
    uint8_t* l4 = l4s[k];
    const f::Header h = f::read_header(l4);
    const size_t hl = f::header_len(l4);
    Connection* c = (hits >> k) & 1 ? static_cast<Connection*>(found[k]) : nullptr;
    const Endpoint src{net::to_be(keys[k].src_ip), h.src_port};
    const Endpoint dst{net::to_be(keys[k].dst_ip), h.dst_port};
    b.to(slot, kNextDone);
    if (!c && !host_->listening(h.dst_port)) {
      // Nothing of ours: the kernel exception path may take it (a daemon beside redline).
      const bool tcp_reply = (h.flags & (f::kSyn | f::kAck_)) == f::kAck_;
      if (w_.to_kernel(m, b.meta[slot].in_port, net::Ipv4Addr{dst.ip}, wire::ipv4::kProtoTcp, h.src_port, h.dst_port,
                       tcp_reply))
        continue;
    }
    const f::Options opt = hl > f::kMinHeaderLen ? f::parse_options(l4 + f::kMinHeaderLen, hl - f::kMinHeaderLen) : f::Options{};
    uint8_t* payload = l4 + hl;
    const uint32_t payload_len = lens[k] - uint32_t(hl);
    const uint8_t* buf_end = static_cast<uint8_t*>(m->buf_addr) + m->buf_len;
    // The room behind the payload takes later small segments' bytes (connection_input.cpp), unless
    // the buffer is shared: a sender on this machine (ring ports, a loop) still holds it.
    const uint32_t room = rte_mbuf_refcnt_read(m) == 1 ? uint32_t(buf_end - (payload + payload_len)) : 0;
    const Chunk chunk{m, payload, payload_len, room};
    if (!host_->input(c, src, dst, h, opt, chunk)) dead[ndead++] = m;
  }
  if (ndead) rte_pktmbuf_free_bulk(dead, ndead);
}

bool TcpStage::on_icmp_error(const uint8_t* icmp, size_t len) {
  // RFC 792: the ICMP header, then the datagram we sent: its IP header and at least the first
  // 8 bytes of TCP (ports and sequence number); the sink's caller checked the lengths.
  const uint8_t* ip = icmp + wire::icmp::kHeaderLen;
  const uint8_t* tcp = ip + wire::ipv4::header_len(ip);
  (void)len;
  host_->set_now(w_.now_tick());
  return host_->icmp_error({wire::ipv4::src(ip).value, f::src_port(tcp)}, {wire::ipv4::dst(ip).value, f::dst_port(tcp)},
                           wire::load32(tcp, f::kSeq), wire::icmp::type(icmp), wire::load8(icmp, wire::icmp::kCode),
                           wire::load16(icmp, wire::icmp::kRest + 2));
}

// --- listing ---

std::string describe(const Connection& c) {
  auto ip = [](uint32_t a) { return net::Ipv4Addr{a}.to_string(); };
  char line[512];
  const ConnStats& st = c.stats();
  std::snprintf(line, sizeof line,
                "%-12s %s:%u %s:%u mss:%u wscale:%u,%u%s%s cwnd:%u ssthresh:%u rtt_us:%u rto_us:%u unacked:%u "
                "queued:%u snd_wnd:%u rcv_wnd:%u readable:%zu ooo:%u bytes_in:%llu bytes_out:%llu retrans:%u",
                state_name(c.state()), ip(c.local().ip).c_str(), c.local().port, ip(c.remote().ip).c_str(), c.remote().port,
                c.mss(), c.send_shift(), c.recv_shift(), c.sack_enabled() ? " sack" : "", c.timestamps_enabled() ? " ts" : "",
                c.cwnd(), c.ssthresh() == 0xffffffffu ? 0 : c.ssthresh(), c.srtt_us(), c.rto_us(), c.unacked(),
                c.send_queued(), c.send_window(), c.offered_window(), c.readable(), c.ooo_segments(),
                (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out, st.retransmits);
  return line;
}

bool TcpStage::dump(std::string* out, uint32_t timeout_ms) {
  // Listed on the worker's core, which alone touches its connections. The job captures only
  // this stage: a job is run by the worker's loop, so never after the stage is gone.
  auto text = w_.mailbox().call(
      [this] {
        std::string lines;
        host_->for_each([&](const Connection& c) {
          lines += describe(c);
          lines += '\n';
        });
        return lines;
      },
      std::chrono::milliseconds(timeout_ms));
  if (!text) return false;
  *out = std::move(*text);
  return true;
}

void add_tcp_feature(pipeline::Shared& s, TcpShared& tcp) {
  tcp.stages.assign(s.workers, nullptr);
  s.features.push_back([&tcp](pipeline::StageGraph& g, pipeline::Worker& w) {
    auto stage = std::make_unique<TcpStage>(w, tcp);
    TcpStage* p = stage.get();
    g.set_local(wire::ipv4::kProtoTcp, g.add(std::move(stage)));
    w.add_iteration_hook(p);
    w.set_icmp_error_sink(wire::ipv4::kProtoTcp, p);
    tcp.stages[w.id()] = p;
  });
}

}  // namespace redline::tcp
