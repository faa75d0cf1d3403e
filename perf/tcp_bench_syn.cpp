// SYNs answered per core (issue 21): a burst of 32 SYNs, each a new 4-tuple, through
// Worker::process and flush, the 32 SYN-ACKs taken back, on a listener with room (each SYN makes a half-open
// connection: allocation, table insert, ISN, timer) or one whose backlog is full (each SYN-ACK
// carries a SYN cookie and nothing is kept). The SYN mbufs are reused with an extra reference;
// the round rewrites the source port and patches the checksum (RFC 1624). On the listener with
// room the half-open connections are aborted, untimed, every kCleanEvery SYNs.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <x86intrin.h>

#include <vector>

#include "perf/tcp_stage_rig.hpp"

using namespace redline;
using namespace redline::perf;

namespace {

class SynBench {
 public:
  static constexpr uint32_t kPeers = 8;  // 10.0.1.2-9: 8 x 64 K source 4-tuples
  static constexpr uint32_t kCleanEvery = 32768;

  explicit SynBench(bool cookies) : cookies_(cookies) {
    tcp_.settings = bench_settings();
    tcp_.settings.max_connections = kCleanEvery + 1024;
    tcp_.settings.syn_backlog = cookies ? 1 : kCleanEvery + 1024;
    tb_ = tcp_testbed(tcp_, discard_);
    for (uint32_t i = 0; i < kPeers; ++i) tb_->neighbors().learn(net::Ipv4Addr{kPeer + i}, {kHostA, 0});
    out_ = tb_->a().tx[0];
    f::Options opt;  // what Linux offers
    opt.mss = 1460;
    opt.window_shift = 7;
    opt.sack_permitted = true;
    opt.has_timestamps = true;
    opt.ts_val = 1000;
    for (uint32_t i = 0; i < kBurst; ++i) {
      pkts_[i] = rte_pktmbuf_alloc(stage_pool());
      write_segment(pkts_[i], {kPeerPort, kPort, 0x10000000u + i, 0, f::kSyn, 65535}, opt, 0);
    }
    if (cookies_) round();  // the first SYN fills the backlog of 1; the rest are cookies
    clean();
  }
  ~SynBench() {
    for (rte_mbuf* m : pkts_) rte_pktmbuf_free(m);
    tb_.reset();
  }
  tcp::TcpStage& stage() { return *tcp_.stages[0]; }

  // One burst of new SYNs; returns the SYN-ACKs that came out.
  uint32_t round() {
    for (rte_mbuf* m : pkts_) next_tuple(m);
    pipeline::Worker& w = tb_->worker();
    w.process(pkts_, kBurst, 0);
    w.flush();
    sent_ += kBurst;
    return drain(out_);
  }
  bool needs_clean() const { return !cookies_ && sent_ >= kCleanEvery; }
  // Ends every half-open connection (their RSTs drained from the ring).
  void clean() {
    std::vector<tcp::Connection*> open;
    stage().host().for_each([&](const tcp::Connection& c) { open.push_back(const_cast<tcp::Connection*>(&c)); });
    if (cookies_ && !open.empty()) open.erase(open.begin());  // the one that keeps the backlog full
    pipeline::Worker& w = tb_->worker();
    for (size_t i = 0; i < open.size(); ++i) {
      open[i]->abort();
      if (i % 512 == 511 || i + 1 == open.size()) {
        w.flush();
        drain(out_);
      }
    }
    sent_ = 0;
  }

 private:
  // The next source port (and, every 64 K, the next peer address) with the checksum patched.
  void next_tuple(rte_mbuf* m) {
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen);
    uint8_t* t = tcp_of(m);
    if (++port_ < 1024) {
      port_ = 1024;
      peer_ = (peer_ + 1) % kPeers;
      const uint32_t src = kPeer + peer_;
      wire::store32(ip, wire::ipv4::kSrc, src);
      wire::store16(ip, wire::ipv4::kChecksum, 0);
      wire::store16(ip, wire::ipv4::kChecksum, wire::internet_checksum(ip, wire::ipv4::kMinHeaderLen));
      wire::store16(t, f::kChecksum, 0);
      const uint16_t tcp_len = uint16_t(wire::load16(ip, wire::ipv4::kTotalLength) - wire::ipv4::kMinHeaderLen);
      const uint32_t pseudo = f::pseudo_header_sum(src, kLocal, wire::ipv4::kProtoTcp, tcp_len);
      wire::store16(t, f::kChecksum, uint16_t(~wire::ones_complement_sum(t, tcp_len, pseudo)));
    }
    const uint16_t old = wire::load16(t, f::kSrcPort);
    wire::store16(t, f::kSrcPort, port_);
    wire::store16(t, f::kChecksum, wire::checksum_update16(wire::load16(t, f::kChecksum), old, port_));
    rte_mbuf_refcnt_set(m, 2);  // the stage's free leaves it ours
  }

  bool cookies_;
  tcp::TcpShared tcp_;
  Discard discard_;
  std::unique_ptr<RingTestbed> tb_;
  rte_ring* out_ = nullptr;
  rte_mbuf* pkts_[kBurst];
  uint16_t port_ = 1023;
  uint32_t peer_ = 0;
  uint32_t sent_ = 0;
};

void syns(benchmark::State& state, bool cookies) {
  SynBench b(cookies);
  uint64_t cycles = 0, answered = 0, rounds = 0;
  for (auto _ : state) {
    if (b.needs_clean()) {
      state.PauseTiming();
      b.clean();
      state.ResumeTiming();
    }
    const uint64_t t0 = __rdtsc();
    answered += b.round();
    cycles += __rdtsc() - t0;
    ++rounds;
  }
  state.SetItemsProcessed(int64_t(rounds) * kBurst);
  state.counters["cycles/op"] = double(cycles) / double(rounds * kBurst);
  state.counters["Msyn/s"] = double(rounds * kBurst) / (double(cycles) / double(rte_get_tsc_hz())) / 1e6;
  state.counters["answered"] = double(answered) / double(rounds * kBurst);
  const uint64_t sent_cookies = b.stage().worker().counters().get(net::Counter::tcp_syncookies_sent);
  if (cookies && sent_cookies < rounds * kBurst / 2) state.SkipWithError("syn: the cookies path was not taken");
}

void BM_TcpSynListen(benchmark::State& state) { syns(state, false); }
void BM_TcpSynCookie(benchmark::State& state) { syns(state, true); }

}  // namespace

BENCHMARK(BM_TcpSynListen);
BENCHMARK(BM_TcpSynCookie);
