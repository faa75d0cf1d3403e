#include "perf/gen/inprocess.hpp"

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#if defined(__SSSE3__)
#include <tmmintrin.h>
#endif

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "drivers/port.hpp"

namespace redline::gen {

namespace {
std::atomic<bool> g_fwd_stop{false};

// testpmd's mbuf_field_set (app/test-pmd/macswap_common.h) with no VLAN, QinQ or MACsec insertion
// configured: keep only the attachment flags and state the header lengths for TX offloads. It
// writes the mbuf's second cache line, as testpmd's macswap does.
inline void set_tx_fields(rte_mbuf* m) {
  m->ol_flags &= RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL;
  m->l2_len = sizeof(rte_ether_hdr);
  m->l3_len = sizeof(rte_ipv4_hdr);
}

// testpmd's do_macswap: the SSE form it builds on x86 (macswap_sse.h), four frames at a time with
// the data of the next four prefetched, then one at a time with the next one prefetched.
void swap_macs(rte_mbuf* const* pkts, uint16_t n) {
#if defined(__SSSE3__)
  // Bytes 0-5 (destination) and 6-11 (source) trade places; 12-15 (EtherType and the first bytes
  // after it) stay as they are.
  const __m128i swap = _mm_setr_epi8(6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 12, 13, 14, 15);
  uint16_t i = 0;
  for (; n - i >= 4; i += 4) {
    if (n - i >= 8)
      for (int k = 4; k < 8; ++k) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + k], void*));
    uint8_t* hdr[4];
    __m128i v[4];
    for (int k = 0; k < 4; ++k) {
      hdr[k] = rte_pktmbuf_mtod(pkts[i + k], uint8_t*);
      v[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hdr[k]));
    }
    for (int k = 0; k < 4; ++k) v[k] = _mm_shuffle_epi8(v[k], swap);
    for (int k = 0; k < 4; ++k) _mm_storeu_si128(reinterpret_cast<__m128i*>(hdr[k]), v[k]);
    for (int k = 0; k < 4; ++k) set_tx_fields(pkts[i + k]);
  }
  for (; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    uint8_t* hdr = rte_pktmbuf_mtod(pkts[i], uint8_t*);
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hdr));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(hdr), _mm_shuffle_epi8(v, swap));
    set_tx_fields(pkts[i]);
  }
#else
  // testpmd's generic macswap.h: prefetch the next frame, swap through a temporary.
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    uint8_t* hdr = rte_pktmbuf_mtod(pkts[i], uint8_t*);
    uint8_t dst[6];
    std::memcpy(dst, hdr, 6);
    std::memmove(hdr, hdr + 6, 6);
    std::memcpy(hdr + 6, dst, 6);
    set_tx_fields(pkts[i]);
  }
#endif
}

// testpmd's forwarding loop for one lcore and two streams (port 0 -> 1, port 1 -> 0), minus
// testpmd: burst in, swap MACs if `Touch` (macswap) or not (io), burst out, free what the TX
// ring refused (no TX retry, testpmd's default).
template <bool Touch>
int forward(void* arg) {
  auto* ports = static_cast<uint16_t*>(arg);
  rte_mbuf* pkts[32];
  while (!g_fwd_stop.load(std::memory_order_relaxed)) {
    for (int dir = 0; dir < 2; ++dir) {
      uint16_t n = rte_eth_rx_burst(ports[dir], 0, pkts, 32);
      if (n == 0) continue;
      if constexpr (Touch) swap_macs(pkts, n);
      uint16_t sent = rte_eth_tx_burst(ports[1 - dir], 0, pkts, n);
      for (uint16_t i = sent; i < n; ++i) rte_pktmbuf_free(pkts[i]);
    }
  }
  return 0;
}

// A ring pair between the device (`dut`) and the generator (`gen`), both ethdev names, which
// rte_eth_from_rings forms as "net_ring_" + the name it is given.
bool make_link(const std::string& dut, const std::string& gen, rte_ring** to_dut_out, std::string* error) {
  const std::string prefix = "net_ring_";
  if (dut.rfind(prefix, 0) != 0 || gen.rfind(prefix, 0) != 0) {
    *error = "in-process ports must be named net_ring_<name>, not '" + dut + "'";
    return false;
  }
  rte_ring* to_dut = rte_ring_create((dut + "_in").c_str(), 4096, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* from_dut = rte_ring_create((dut + "_out").c_str(), 4096, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!to_dut || !from_dut ||
      rte_eth_from_rings(dut.substr(prefix.size()).c_str(), &to_dut, 1, &from_dut, 1, rte_socket_id()) < 0 ||
      rte_eth_from_rings(gen.substr(prefix.size()).c_str(), &from_dut, 1, &to_dut, 1, rte_socket_id()) < 0) {
    *error = "cannot create ring ports " + dut + "/" + gen + ": " + rte_strerror(rte_errno);
    return false;
  }
  *to_dut_out = to_dut;
  return true;
}
}  // namespace

std::unique_ptr<InProcessDut> InProcessDut::start(const std::string& device, rte_mempool* pool, std::string* error) {
  auto dut = std::unique_ptr<InProcessDut>(new InProcessDut());
  if (device == "io" || device == "macswap") {
    const std::string names[2] = {"net_ring_" + device + "0", "net_ring_" + device + "1"};
    const char* gens[2] = {kGenPort0, kGenPort1};
    rss::RetaMirror reta(1);
    for (int i = 0; i < 2; ++i) {
      if (!make_link(names[i], gens[i], &dut->to_dut_[i], error)) return nullptr;
      auto id = drivers::attach(names[i], error);
      if (!id) return nullptr;
      drivers::PortRequest req{names[i], names[i], std::nullopt, 1500, 1, 1024, 1024};
      if (!drivers::configure_and_start(*id, req, pool, reta, error)) return nullptr;
      dut->fwd_ports_[i] = *id;
    }
    dut->fwd_lcore_ = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
    if (dut->fwd_lcore_ >= RTE_MAX_LCORE) {
      *error = "the " + device + " forwarder needs a worker lcore (-l 0,1)";
      return nullptr;
    }
    g_fwd_stop = false;
    rte_eal_remote_launch(device == "io" ? forward<false> : forward<true>, dut->fwd_ports_, dut->fwd_lcore_);
    dut->running_ = true;
    dut->dst_mac_ = net::MacAddr{{0x02, 0, 0, 0, 0, 1}};
    return dut;
  }
  const std::string& config_path = device;
  auto loaded = app::load_config(config_path);
  if (!loaded.config) {
    *error = loaded.error;
    return nullptr;
  }
  if (loaded.config->ports.size() != 2) {
    *error = config_path + ": an in-process run needs exactly two ports";
    return nullptr;
  }
  if (!make_link(loaded.config->ports[0].device, kGenPort0, &dut->to_dut_[0], error) ||
      !make_link(loaded.config->ports[1].device, kGenPort1, &dut->to_dut_[1], error))
    return nullptr;
  dut->app_ = std::make_unique<app::App>();
  if (!dut->app_->setup(*loaded.config, error)) return nullptr;
  dut->app_->launch();
  dut->running_ = true;
  dut->dst_mac_ = dut->app_->shared().ports[0].mac;
  return dut;
}

double InProcessDut::stop() {
  if (!running_) return 0;
  running_ = false;
  if (!app_) {
    g_fwd_stop = true;
    rte_eal_wait_lcore(fwd_lcore_);
    for (uint16_t p : fwd_ports_) drivers::stop_and_close(p);
    return 0;
  }
  unsigned in_use = app_->shutdown(getenv("REDLINE_GEN_STATS") != nullptr);
  if (in_use) std::fprintf(stderr, "redline-gen: redline left %u mbufs in use\n", in_use);
  uint64_t rx = app_->final_total(net::Counter::rx_packets);
  return rx ? double(app_->final_total(net::Counter::busy_cycles)) / double(rx) : 0;
}

uint32_t InProcessDut::queued(unsigned gen_port) const { return rte_ring_count(to_dut_[gen_port]); }

InProcessDut::~InProcessDut() { stop(); }

}  // namespace redline::gen
