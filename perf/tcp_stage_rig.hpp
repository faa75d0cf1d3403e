// The stage rows' rig (tcp_bench_stage.cpp, tcp_bench_syn.cpp): a real pipeline Worker on ring
// ports (as pipeline_bench and nat_bench) whose TcpStage listens on kPort, frames from host A
// written straight into mbufs, and the TX ring drained as a PMD would after transmit.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "perf/tcp_bench_common.hpp"
#include "stack/tcp/tcp_stage.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/tcp.hpp"
#include "tests/support/ring_testbed.hpp"

namespace redline::perf {

namespace f = wire::tcp;
using testing::kHostA;
using testing::kMacA;
using testing::RingTestbed;

constexpr uint32_t kBurst = 32;
constexpr uint16_t kPayload = 1448;  // MSS 1460 minus the timestamps option
constexpr uint32_t kPeer = 0x0a000102;   // 10.0.1.2, host A; redline is 10.0.1.1 on port a
constexpr uint32_t kLocal = 0x0a000101;
constexpr uint16_t kPeerPort = 40000, kPort = 9;

inline rte_mempool* stage_pool() {
  static rte_mempool* p = rte_pktmbuf_pool_create("tcpb_pool", 8192, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  return p;
}

// A frame from host A to redline: Ethernet, IPv4, TCP with `opt`, `payload` bytes of zeros.
inline void write_segment(rte_mbuf* m, const f::Header& h, const f::Options& opt, uint16_t payload) {
  rte_pktmbuf_reset(m);
  const uint16_t tcp_len = uint16_t(f::kMinHeaderLen + f::options_len(opt) + payload);
  const uint16_t ip_len = uint16_t(wire::ipv4::kMinHeaderLen + tcp_len);
  auto* fr = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(wire::eth::kHeaderLen + ip_len)));
  std::memset(fr, 0, wire::eth::kHeaderLen + ip_len);
  wire::eth::write(fr, kMacA, kHostA, wire::eth::kTypeIpv4);
  wire::ipv4::Repr r;
  r.total_len = ip_len;
  r.ttl = 64;
  r.flags_fragment = wire::ipv4::kFlagDontFragment;
  r.protocol = wire::ipv4::kProtoTcp;
  r.src = net::Ipv4Addr{kPeer};
  r.dst = net::Ipv4Addr{kLocal};
  wire::ipv4::write(fr + wire::eth::kHeaderLen, r);
  uint8_t* tcp = fr + wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen;
  f::write_header(tcp, h, opt);
  const uint32_t pseudo = f::pseudo_header_sum(kPeer, kLocal, wire::ipv4::kProtoTcp, tcp_len);
  wire::store16(tcp, f::kChecksum, uint16_t(~wire::ones_complement_sum(tcp, tcp_len, pseudo)));
}

inline uint8_t* tcp_of(rte_mbuf* m) {
  return rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen);
}


// A worker on ring ports whose TcpStage listens on kPort with `discard` (tcp.settings as given).
inline std::unique_ptr<RingTestbed> tcp_testbed(tcp::TcpShared& tcp, Discard& discard) {
  tcp.isn_key[0] = 7;
  tcp.isn_key[1] = 11;
  tcp.start = [&discard](tcp::TcpStage& st) { st.host().listen(kPort, discard); };
  testing::TestbedOptions o;
  o.tweak = [&tcp](pipeline::Shared& s) { tcp::add_tcp_feature(s, tcp); };
  std::string error;
  auto tb = RingTestbed::create(o, stage_pool(), nullptr, nullptr, &error);
  if (!tb) {
    std::fprintf(stderr, "tcp_bench: %s\n", error.c_str());
    std::exit(1);
  }
  return tb;
}

// Frees everything the worker put on `ring` (its port's TX ring); returns how many frames.
inline uint32_t drain(rte_ring* ring) {
  rte_mbuf* out[kBurst];
  uint32_t got = 0, n;
  while ((n = rte_ring_dequeue_burst(ring, reinterpret_cast<void**>(out), kBurst, nullptr)) > 0) {
    rte_pktmbuf_free_bulk(out, n);
    got += n;
  }
  return got;
}

}  // namespace redline::perf
