// A test rig for the worker pipeline on real ethdev ports made from rings (rte_eth_from_rings):
// the test is the link partner on both sides, writing frames into RX rings and reading what
// redline transmits. One or more workers, driven step by step with poll_once() from the test's
// thread (with QSBR when there are several, as the application runs them).
#pragma once

#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <functional>
#include <memory>
#include <vector>

#include "drivers/port.hpp"
#include "stack/pipeline/worker.hpp"
#include "stack/wire/arp.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::testing {

using Frame = std::vector<uint8_t>;

inline net::Ipv4Addr addr(const char* s) { return *net::Ipv4Addr::parse(s); }
inline net::MacAddr mac(const char* s) { return *net::MacAddr::parse(s); }

inline const net::MacAddr kMacA = mac("02:00:00:00:0a:01"), kHostA = mac("02:00:00:00:0a:02");
inline const net::MacAddr kMacB = mac("02:00:00:00:0b:01"), kHostB = mac("02:00:00:00:0b:02");

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

struct RingPort {
  std::vector<rte_ring*> rx;  // per queue: we enqueue, redline receives
  std::vector<rte_ring*> tx;  // per queue: redline transmits, we dequeue
  uint16_t id = 0;
};

struct RigOptions {
  uint32_t workers = 1;
  uint32_t retry_ms = 1000;
  uint32_t retries = 3;
  uint16_t mtu_a = 1500, mtu_b = 1500;
  const char* address_a = "10.0.1.1/24";
  uint32_t neighbors = 64;
  std::function<void(pipeline::Shared&)> tweak;  // last changes before the workers are built
};

class Rig {
 public:
  explicit Rig(const RigOptions& o = {}) : opts_(o) {
    if (!pool_) pool_ = rte_pktmbuf_pool_create("rig_pool", 16384, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    if (!indirect_) indirect_ = rte_pktmbuf_pool_create("rig_indirect", 1024, 0, 0, 0, 0);
    if (!jumbo_) jumbo_ = rte_pktmbuf_pool_create("rig_jumbo", 64, 0, 0, RTE_PKTMBUF_HEADROOM + 9216, 0);
    std::string n = std::to_string(serial_++);
    a_ = make_port("rg" + n + "a", o.workers);
    b_ = make_port("rg" + n + "b", o.workers);
    build();
  }
  ~Rig() {
    for (auto& w : workers_) w->release();
    take(a_);
    take(b_);
    workers_.clear();
    neighbors_.reset();
    routes_.reset();
    rte_free(shared_->qsbr);
    for (RingPort* p : {&a_, &b_}) drivers::stop_and_close(p->id);
    for (RingPort* p : {&a_, &b_})
      for (auto* rings : {&p->rx, &p->tx})
        for (rte_ring* r : *rings) rte_ring_free(r);
    for (rte_ring* r : shared_->handoff) rte_ring_free(r);
    for (rte_ring* r : shared_->arp_rings) rte_ring_free(r);
    EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u) << "mbufs leaked";
    EXPECT_EQ(rte_mempool_in_use_count(jumbo_), 0u) << "jumbo mbufs leaked";
  }

  pipeline::Worker& worker(uint32_t i = 0) { return *workers_[i]; }
  pipeline::Shared& shared() { return *shared_; }
  arp::NeighborTable& neighbors() { return *neighbors_; }
  RingPort& a() { return a_; }
  RingPort& b() { return b_; }
  static rte_mempool* pool() { return pool_; }

  // One loop iteration of worker `w` (at TSC `tsc`, or now), then its quiescent report.
  uint32_t poll(uint32_t w = 0, uint64_t tsc = 0) {
    uint32_t n = tsc ? workers_[w]->poll_once(tsc) : workers_[w]->poll_once();
    if (shared_->qsbr) rte_rcu_qsbr_quiescent(shared_->qsbr, w);
    return n;
  }
  void poll_all(int rounds = 2) {
    for (int r = 0; r < rounds; ++r)
      for (uint32_t w = 0; w < workers_.size(); ++w) poll(w);
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
    for (auto& w : workers_) sum += w->counters().get(c);
    return sum;
  }
  // Teaches redline a host's MAC the way a host would: by asking for redline's.
  void host_arps(RingPort& port, net::MacAddr m, const char* ip, const char* router_ip) {
    inject(port, arp_frame(1, m, addr(ip), net::MacAddr::broadcast(), addr(router_ip)));
    poll_all();
    take(port);
  }
  void host_a_arps() { host_arps(a_, kHostA, "10.0.1.2", "10.0.1.1"); }
  void host_b_arps() { host_arps(b_, kHostB, "10.0.2.2", "10.0.2.1"); }

 private:
  static RingPort make_port(const std::string& name, uint32_t queues) {
    RingPort p;
    for (uint32_t q = 0; q < queues; ++q) {
      std::string qn = name + std::to_string(q);
      p.rx.push_back(rte_ring_create((qn + "r").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ));
      p.tx.push_back(rte_ring_create((qn + "t").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ));
    }
    int id = rte_eth_from_rings(name.c_str(), p.rx.data(), queues, p.tx.data(), queues, 0);
    EXPECT_GE(id, 0);
    p.id = uint16_t(id);
    return p;
  }

  void build() {
    std::string error;
    static const rte_mbuf_dynfield field = {"redline_meta", sizeof(pipeline::MbufMeta), alignof(pipeline::MbufMeta), 0};
    shared_ = std::make_unique<pipeline::Shared>();
    pipeline::Shared& s = *shared_;
    const uint32_t workers = opts_.workers;
    s.meta_offset = rte_mbuf_dynfield_register(&field);
    s.pool = pool_;
    s.indirect_pool = indirect_;
    s.tsc_hz = rte_get_tsc_hz();
    s.workers = workers;
    s.reta = rss::RetaMirror(workers);
    s.settings.resolve = {uint64_t(opts_.retry_ms) * 1'000'000, opts_.retries};
    s.settings.icmp_error_rate = 1000;
    s.settings.icmp_error_burst = 1000;
    for (auto [port, mac_addr, address, mtu] : {std::tuple{&a_, kMacA, opts_.address_a, opts_.mtu_a},
                                                std::tuple{&b_, kMacB, "10.0.2.1/24", opts_.mtu_b}}) {
      drivers::PortRequest req{"p", "", std::nullopt, mtu, uint16_t(workers), 256, 256};  // net_ring cannot set a MAC
      auto ready = drivers::configure_and_start(port->id, req, mtu > 1500 ? jumbo_ : pool_, s.reta, &error);
      ASSERT_TRUE(ready) << error;
      pipeline::PortInfo info;
      info.dpdk_id = port->id;
      info.name = s.ports.empty() ? "a" : "b";
      info.mac = mac_addr;  // ring ports do not filter, so any MAC serves
      info.address = *net::Ipv4Prefix::parse(address);
      info.mtu = mtu;
      s.ports.push_back(info);
    }
    routes_ = ip::RouteTable::create("rig_routes" + std::to_string(serial_), 64, 0, &error);
    using Kind = ip::NextHop::Kind;
    for (uint16_t i = 0; i < 2; ++i) {
      auto a = s.ports[i].address;
      ASSERT_TRUE(routes_->add(a, {Kind::kForward, i, {}}, &error));
      ASSERT_TRUE(routes_->add({a.addr, 32}, {Kind::kLocal, i, {}}, &error));
      ASSERT_TRUE(routes_->add({a.directed_broadcast(), 32}, {Kind::kBroadcast, i, {}}, &error));
    }
    ASSERT_TRUE(routes_->add(*net::Ipv4Prefix::parse("10.0.3.0/24"), {Kind::kForward, 1, addr("10.0.2.2")}, &error));
    s.routes = routes_.get();
    if (workers > 1) {
      s.qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("rig_qsbr", rte_rcu_qsbr_get_memsize(workers), RTE_CACHE_LINE_SIZE));
      ASSERT_EQ(rte_rcu_qsbr_init(s.qsbr, workers), 0);
      for (uint32_t w = 0; w < workers; ++w) {
        rte_rcu_qsbr_thread_register(s.qsbr, w);
        rte_rcu_qsbr_thread_online(s.qsbr, w);
      }
    }
    neighbors_ = arp::NeighborTable::create("rig_nb" + std::to_string(serial_), opts_.neighbors, 0, s.qsbr, &error);
    ASSERT_TRUE(neighbors_) << error;
    s.neighbors = neighbors_.get();
    s.handoff.assign(size_t(workers) * workers, nullptr);
    s.arp_rings.assign(workers, nullptr);
    for (uint32_t src = 0; src < workers; ++src) {
      for (uint32_t dst = 0; dst < workers; ++dst)
        if (src != dst)
          s.handoff[src * workers + dst] = rte_ring_create(("rgh" + std::to_string(serial_) + "_" + std::to_string(src) + "_" + std::to_string(dst)).c_str(),
                                                           64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (src)
        s.arp_rings[src] = rte_ring_create(("rga" + std::to_string(serial_) + "_" + std::to_string(src)).c_str(), 1024, 0,
                                           RING_F_SP_ENQ | RING_F_SC_DEQ);
    }
    s.index_addresses();
    if (opts_.tweak) opts_.tweak(s);
    for (uint32_t w = 0; w < workers; ++w) workers_.push_back(std::make_unique<pipeline::Worker>(s, w));
    poll_all(1);  // gratuitous ARP goes out first
    take(a_);
    take(b_);
  }

  RigOptions opts_;
  RingPort a_, b_;
  std::unique_ptr<pipeline::Shared> shared_;
  std::unique_ptr<ip::RouteTable> routes_;
  std::unique_ptr<arp::NeighborTable> neighbors_;
  std::vector<std::unique_ptr<pipeline::Worker>> workers_;
  static inline rte_mempool* pool_ = nullptr;
  static inline rte_mempool* indirect_ = nullptr;
  static inline rte_mempool* jumbo_ = nullptr;
  static inline int serial_ = 0;
};

}  // namespace redline::testing
