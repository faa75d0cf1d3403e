// redline's pipeline on two ring-backed ethdev ports (rte_eth_from_rings), built the way the
// application builds it: shared state, routes, neighbor table, QSBR, handoff and ARP rings,
// one Worker per queue. The caller is the link partner on both ports. Used by the DPDK tests
// (tests/dpdk/pipeline_rig.hpp adds frames and assertions) and the whole-pipeline benchmark.
#pragma once

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "drivers/port.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::testing {

inline const net::MacAddr kMacA{{0x02, 0, 0, 0, 0x0a, 0x01}}, kHostA{{0x02, 0, 0, 0, 0x0a, 0x02}};
inline const net::MacAddr kMacB{{0x02, 0, 0, 0, 0x0b, 0x01}}, kHostB{{0x02, 0, 0, 0, 0x0b, 0x02}};

struct RingPort {
  std::vector<rte_ring*> rx;  // per queue: the partner enqueues, redline receives
  std::vector<rte_ring*> tx;  // per queue: redline transmits, the partner dequeues
  uint16_t id = 0;
};

struct TestbedOptions {
  uint32_t workers = 1;
  uint32_t retry_ms = 1000;
  uint32_t retries = 3;
  uint16_t mtu_a = 1500, mtu_b = 1500;
  const char* address_a = "10.0.1.1/24";  // port b is 10.0.2.1/24; 10.0.3.0/24 via 10.0.2.2
  uint32_t neighbors = 64;
  uint32_t ring_size = 1024;      // port rings
  uint32_t handoff_size = 64;     // handoff rings (small, so tests can fill them)
  uint32_t queues_b = 0;          // queue pairs of port b; 0: one per worker
  std::function<void(pipeline::Shared&)> tweak;  // last changes before the workers are built
};

class RingTestbed {
 public:
  // `pool` feeds everything; `rx_jumbo` is given to ports whose MTU exceeds its data room.
  static std::unique_ptr<RingTestbed> create(const TestbedOptions& o, rte_mempool* pool, rte_mempool* rx_jumbo,
                                             rte_mempool* indirect, std::string* error) {
    auto t = std::unique_ptr<RingTestbed>(new RingTestbed(o));
    if (!t->build(pool, rx_jumbo, indirect, error)) return nullptr;
    return t;
  }
  ~RingTestbed() {
    for (auto& w : workers_) w->release();
    for (RingPort* p : {&a_, &b_}) {
      drain(*p);
      // Frames the partner wrote that no worker polled were never redline's: the ring PMD does
      // not free what its RX rings still hold, so they would count as leaked mbufs.
      for (rte_ring* r : p->rx) {
        void* m;
        while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      }
    }
    workers_.clear();
    neighbors_.reset();
    routes_.reset();
    rte_free(shared_->qsbr);
    for (auto& port : shared_->ports)
      if (port.tx_ring) {
        void* m;
        while (rte_ring_dequeue(port.tx_ring, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        rte_ring_free(port.tx_ring);
      }
    for (RingPort* p : {&a_, &b_}) {
      drivers::stop_and_close(p->id);
      for (auto* rings : {&p->rx, &p->tx})
        for (rte_ring* r : *rings) rte_ring_free(r);
    }
    for (rte_ring* r : shared_->handoff) rte_ring_free(r);
    for (rte_ring* r : shared_->arp_rings) rte_ring_free(r);
  }

  pipeline::Worker& worker(uint32_t i = 0) { return *workers_[i]; }
  pipeline::Shared& shared() { return *shared_; }
  arp::NeighborTable& neighbors() { return *neighbors_; }
  RingPort& a() { return a_; }
  RingPort& b() { return b_; }

  // One loop iteration of worker `w` (at TSC `tsc`, or now), then its quiescent report.
  uint32_t poll(uint32_t w = 0, uint64_t tsc = 0) {
    uint32_t n = tsc ? workers_[w]->poll_once(tsc) : workers_[w]->poll_once();
    if (shared_->qsbr) rte_rcu_qsbr_quiescent(shared_->qsbr, w);
    return n;
  }
  // Frees whatever redline transmitted on `p`.
  static void drain(RingPort& p) {
    for (rte_ring* r : p.tx) {
      void* m;
      while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
  }

 private:
  explicit RingTestbed(const TestbedOptions& o) : opts_(o), serial_(std::to_string(next_serial_++)) {}

  bool make_port(const std::string& name, RingPort* p, std::string* error) {
    const uint32_t queues = (p == &b_ && opts_.queues_b) ? opts_.queues_b : opts_.workers;
    for (uint32_t q = 0; q < queues; ++q) {
      std::string qn = name + std::to_string(q);
      p->rx.push_back(rte_ring_create((qn + "r").c_str(), opts_.ring_size, 0, RING_F_SP_ENQ | RING_F_SC_DEQ));
      p->tx.push_back(rte_ring_create((qn + "t").c_str(), opts_.ring_size, 0, RING_F_SP_ENQ | RING_F_SC_DEQ));
      if (!p->rx.back() || !p->tx.back()) return *error = "cannot create rings for " + name, false;
    }
    int id = rte_eth_from_rings(name.c_str(), p->rx.data(), unsigned(queues), p->tx.data(), unsigned(queues), 0);
    if (id < 0) return *error = "cannot create ring port " + name, false;
    p->id = uint16_t(id);
    return true;
  }

  bool build(rte_mempool* pool, rte_mempool* rx_jumbo, rte_mempool* indirect, std::string* error) {
    static const rte_mbuf_dynfield field = {"redline_meta", sizeof(pipeline::MbufMeta), alignof(pipeline::MbufMeta), 0};
    shared_ = std::make_unique<pipeline::Shared>();
    pipeline::Shared& s = *shared_;
    const uint32_t workers = opts_.workers;
    if (!make_port("tb" + serial_ + "a", &a_, error) || !make_port("tb" + serial_ + "b", &b_, error)) return false;
    s.meta_offset = rte_mbuf_dynfield_register(&field);
    s.pool = pool;
    s.indirect_pool = indirect;
    s.tsc_hz = rte_get_tsc_hz();
    s.workers = workers;
    s.reta = rss::RetaMirror(workers);
    s.settings.resolve = {uint64_t(opts_.retry_ms) * 1'000'000, opts_.retries};
    s.settings.icmp_error_rate = 1000;
    s.settings.icmp_error_burst = 1000;
    struct Spec {
      RingPort* port;
      net::MacAddr mac;
      const char* address;
      uint16_t mtu;
    };
    for (const Spec& spec : {Spec{&a_, kMacA, opts_.address_a, opts_.mtu_a}, Spec{&b_, kMacB, "10.0.2.1/24", opts_.mtu_b}}) {
      drivers::PortRequest req{"p", "", std::nullopt, spec.mtu, uint16_t(workers), 256, 256};  // ring: no MAC to set
      rte_mempool* rx_pool = spec.mtu > 1500 && rx_jumbo ? rx_jumbo : pool;
      const auto ready = drivers::configure_and_start(spec.port->id, req, rx_pool, s.reta, error);
      if (!ready) return false;
      pipeline::PortInfo info;
      info.dpdk_id = spec.port->id;
      info.queues = ready->queues;
      if (ready->queues < workers) {  // as the application does (dpdk_app/app.cpp)
        info.tx_ring = rte_ring_create(("tb" + serial_ + "tx" + std::to_string(s.ports.size())).c_str(), 1024, 0, RING_F_SC_DEQ);
        if (!info.tx_ring) return *error = "cannot create the shared TX ring", false;
      }
      info.name = s.ports.empty() ? "a" : "b";
      info.mac = spec.mac;  // ring ports do not filter, so any MAC serves
      info.address = *net::Ipv4Prefix::parse(spec.address);
      info.mtu = spec.mtu;
      s.ports.push_back(info);
    }
    routes_ = ip::RouteTable::create("tb_routes" + serial_, 64, 0, error);
    if (!routes_) return false;
    using Kind = ip::NextHop::Kind;
    for (uint16_t i = 0; i < 2; ++i) {
      const auto a = s.ports[i].address;
      if (!routes_->add(a, {Kind::kForward, i, {}}, error) || !routes_->add({a.addr, 32}, {Kind::kLocal, i, {}}, error) ||
          !routes_->add({a.directed_broadcast(), 32}, {Kind::kBroadcast, i, {}}, error))
        return false;
    }
    if (!routes_->add(*net::Ipv4Prefix::parse("10.0.3.0/24"), {Kind::kForward, 1, *net::Ipv4Addr::parse("10.0.2.2")}, error))
      return false;
    s.routes = routes_.get();
    if (workers > 1) {
      s.qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("tb_qsbr", rte_rcu_qsbr_get_memsize(workers), RTE_CACHE_LINE_SIZE));
      if (!s.qsbr || rte_rcu_qsbr_init(s.qsbr, workers) != 0) return *error = "cannot set up QSBR", false;
      for (uint32_t w = 0; w < workers; ++w) {
        rte_rcu_qsbr_thread_register(s.qsbr, w);
        rte_rcu_qsbr_thread_online(s.qsbr, w);
      }
    }
    neighbors_ = arp::NeighborTable::create("tb_nb" + serial_, opts_.neighbors, 0, s.qsbr, error);
    if (!neighbors_) return false;
    s.neighbors = neighbors_.get();
    s.handoff.assign(size_t(workers) * workers, nullptr);
    s.arp_rings.assign(workers, nullptr);
    for (uint32_t src = 0; src < workers; ++src) {
      for (uint32_t dst = 0; dst < workers; ++dst) {
        if (src == dst) continue;
        std::string name = "tbh" + serial_ + "_" + std::to_string(src) + "_" + std::to_string(dst);
        s.handoff[src * workers + dst] = rte_ring_create(name.c_str(), opts_.handoff_size, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!s.handoff[src * workers + dst]) return *error = "cannot create " + name, false;
      }
      if (src == 0) continue;
      std::string name = "tba" + serial_ + "_" + std::to_string(src);
      s.arp_rings[src] = rte_ring_create(name.c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (!s.arp_rings[src]) return *error = "cannot create " + name, false;
    }
    s.index_addresses();
    if (opts_.tweak) opts_.tweak(s);
    try {
      for (uint32_t w = 0; w < workers; ++w) workers_.push_back(std::make_unique<pipeline::Worker>(s, w));
    } catch (const std::exception& e) {
      return *error = e.what(), false;
    }
    for (uint32_t w = 0; w < workers; ++w) poll(w);  // gratuitous ARP goes out first
    drain(a_);
    drain(b_);
    return true;
  }

  TestbedOptions opts_;
  std::string serial_;
  RingPort a_, b_;
  std::unique_ptr<pipeline::Shared> shared_;
  std::unique_ptr<ip::RouteTable> routes_;
  std::unique_ptr<arp::NeighborTable> neighbors_;
  std::vector<std::unique_ptr<pipeline::Worker>> workers_;
  static inline int next_serial_ = 0;
};

}  // namespace redline::testing
