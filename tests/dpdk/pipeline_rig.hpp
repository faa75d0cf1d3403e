// A test rig for the worker pipeline on real ethdev ports made from rings (rte_eth_from_rings):
// the test is the link partner on both sides, writing frames into RX rings and reading what
// redline transmits. One or more workers, driven step by step with poll_once() from the test's
// thread (with QSBR when there are several, as the application runs them).
#pragma once

#include <gtest/gtest.h>

#include "stack/wire/arp.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"
#include "tests/support/ring_testbed.hpp"

namespace redline::testing {

using Frame = std::vector<uint8_t>;

inline net::Ipv4Addr addr(const char* s) { return *net::Ipv4Addr::parse(s); }
inline net::MacAddr mac(const char* s) { return *net::MacAddr::parse(s); }


inline Frame arp_frame(uint16_t op, net::MacAddr src_mac, net::Ipv4Addr src_ip, net::MacAddr dst_mac,
                       net::Ipv4Addr target) {
  Frame f(wire::eth::kHeaderLen + wire::arp::kLen);
  wire::eth::write(f.data(), dst_mac, src_mac, wire::eth::kTypeArp);
  wire::arp::write(f.data() + wire::eth::kHeaderLen, {op, src_mac, src_ip, op == 1 ? net::MacAddr{} : dst_mac, target});
  return f;
}

inline Frame ipv4_frame(net::MacAddr dst_mac, net::MacAddr src_mac, net::Ipv4Addr src, net::Ipv4Addr dst, uint8_t proto,
                        const Frame& payload, uint8_t ttl = 64, uint16_t flags_fragment = 0) {
  Frame f(wire::eth::kHeaderLen + 20 + payload.size());
  wire::eth::write(f.data(), dst_mac, src_mac, wire::eth::kTypeIpv4);
  wire::ipv4::Repr r;
  r.total_len = uint16_t(20 + payload.size());
  r.ttl = ttl;
  r.protocol = proto;
  r.src = src;
  r.dst = dst;
  r.ident = 0x4242;
  r.flags_fragment = flags_fragment;
  wire::ipv4::write(f.data() + wire::eth::kHeaderLen, r);
  std::copy(payload.begin(), payload.end(), f.begin() + wire::eth::kHeaderLen + 20);
  return f;
}

inline Frame echo_request(uint16_t seq, size_t data_len = 4) {
  Frame icmp = {8, 0, 0, 0, 0x12, 0x34, uint8_t(seq >> 8), uint8_t(seq)};
  for (size_t i = 0; i < data_len; ++i) icmp.push_back(uint8_t('a' + i % 26));
  wire::store16(icmp.data(), 2, wire::internet_checksum(icmp.data(), icmp.size()));
  return icmp;
}

using RigOptions = TestbedOptions;

class Rig {
 public:
  explicit Rig(const RigOptions& o = {}) {
    if (!pool_) pool_ = rte_pktmbuf_pool_create("rig_pool", 16384, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    if (!indirect_) indirect_ = rte_pktmbuf_pool_create("rig_indirect", 1024, 0, 0, 0, 0);
    if (!jumbo_) jumbo_ = rte_pktmbuf_pool_create("rig_jumbo", 64, 0, 0, RTE_PKTMBUF_HEADROOM + 9216, 0);
    std::string error;
    tb_ = RingTestbed::create(o, pool_, jumbo_, indirect_, &error);
    EXPECT_TRUE(tb_) << error;
  }
  ~Rig() {
    tb_.reset();
    EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u) << "mbufs leaked";
    EXPECT_EQ(rte_mempool_in_use_count(jumbo_), 0u) << "jumbo mbufs leaked";
  }

  pipeline::Worker& worker(uint32_t i = 0) { return tb_->worker(i); }
  pipeline::Shared& shared() { return tb_->shared(); }
  arp::NeighborTable& neighbors() { return tb_->neighbors(); }
  RingPort& a() { return tb_->a(); }
  RingPort& b() { return tb_->b(); }
  static rte_mempool* pool() { return pool_; }

  uint32_t poll(uint32_t w = 0, uint64_t tsc = 0) { return tb_->poll(w, tsc); }
  void poll_all(int rounds = 2) {
    for (int r = 0; r < rounds; ++r)
      for (uint32_t w = 0; w < tb_->shared().workers; ++w) poll(w);
  }

  // Frames beyond the main pool's data room come from a jumbo pool, as a PMD on a 9000-byte
  // MTU port would give them.
  rte_mbuf* mbuf(const Frame& f) {
    rte_mbuf* m = rte_pktmbuf_alloc(f.size() + RTE_PKTMBUF_HEADROOM > RTE_MBUF_DEFAULT_BUF_SIZE ? jumbo_ : pool_);
    EXPECT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
    return m;
  }
  void inject(RingPort& p, const Frame& f, uint32_t queue = 0) { inject(p, mbuf(f), queue); }
  void inject(RingPort& p, rte_mbuf* m, uint32_t queue = 0) { ASSERT_EQ(rte_ring_enqueue(p.rx[queue], m), 0); }
  std::vector<Frame> take(RingPort& p) {
    std::vector<Frame> out;
    for (rte_ring* r : p.tx) {
      void* m;
      while (rte_ring_dequeue(r, &m) == 0) {
        auto* mb = static_cast<rte_mbuf*>(m);
        Frame f(rte_pktmbuf_pkt_len(mb));
        const void* d = rte_pktmbuf_read(mb, 0, uint32_t(f.size()), f.data());  // copies only if chained
        if (d != f.data()) std::memcpy(f.data(), d, f.size());
        out.push_back(std::move(f));
        rte_pktmbuf_free(mb);
      }
    }
    return out;
  }
  uint64_t counter(net::Counter c) const {
    uint64_t sum = 0;
    for (uint32_t w = 0; w < tb_->shared().workers; ++w) sum += tb_->worker(w).counters().get(c);
    return sum;
  }
  // Teaches redline a host's MAC the way a host would: by asking for redline's.
  void host_arps(RingPort& port, net::MacAddr m, const char* ip, const char* router_ip) {
    inject(port, arp_frame(1, m, addr(ip), net::MacAddr::broadcast(), addr(router_ip)));
    poll_all();
    take(port);
  }
  void host_a_arps() { host_arps(a(), kHostA, "10.0.1.2", "10.0.1.1"); }
  void host_b_arps() { host_arps(b(), kHostB, "10.0.2.2", "10.0.2.1"); }

 private:
  std::unique_ptr<RingTestbed> tb_;
  static inline rte_mempool* pool_ = nullptr;
  static inline rte_mempool* indirect_ = nullptr;
  static inline rte_mempool* jumbo_ = nullptr;
};

}  // namespace redline::testing
