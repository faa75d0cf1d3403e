// The TCP stage's receive path, per segment (issue 9).
//
// Stage row (BM_TcpRxInOrder): a real pipeline Worker on ring ports (as pipeline_bench and
// nat_bench) with a TcpStage holding one established connection to a discard handler, made by
// feeding a handshake through the worker. Each round pushes 32 in-order full-size data segments
// through Worker::process (classify -> route -> local -> tcp: checks, bulk lookup, engine input,
// zero-copy queue, consume, free) and flush (the ACK the engine sends for every second segment:
// built in a new mbuf, routed from local-out, out to the TX ring), then takes the ACKs back.
// The data mbufs are reused: each carries an extra reference, so the engine's free after
// consume returns it to us instead of the pool; the round rewrites sequence numbers and patches
// the checksum incrementally (RFC 1624). BM_TcpRxHarnessOnly measures that restore and the ring
// round trip alone, to subtract.
//
// Flood rows (BM_TcpRxUnderFlood, issue 21): the same rounds, each followed by a burst of 32
// blind attacker segments for the live connection's 4-tuple: RSTs with random sequence numbers
// (RFC 5961 §3: out of window, dropped; in window, a challenge ACK within the rate limit) or
// ACKs acknowledging random data (§5.2: each a challenge ACK within the limit, the rest counted
// as limited). The connection's throughput per core under a flood of one attacker segment per
// data segment is the idle row's cycles over this row's; the flood-only variant (second arg 0)
// gives the flood's own cycles per segment. The rows report what the flood drew and fail if the
// connection lost data or is no longer established. Worker::process is called directly, so the
// worker's clock stands still and the challenge-ACK budget does not refill while timed.
#include <benchmark/benchmark.h>

#include <random>

#include "perf/tcp_stage_rig.hpp"
#include "perf/tsc.hpp"

using namespace redline;
using namespace redline::perf;

namespace {

enum class Flood : uint8_t { kNone, kRst, kAck };

class StageBench {
 public:
  explicit StageBench(bool offload) : offload_(offload) {
    tcp_.settings = bench_settings();
    tcp_.settings.max_connections = 1024;
    tb_ = tcp_testbed(tcp_, discard_);
    tb_->neighbors().learn(net::Ipv4Addr{kPeer}, {kHostA, 0});
    out_ = tb_->a().tx[0];
    for (auto& m : pkts_) m = rte_pktmbuf_alloc(stage_pool());
    for (auto& m : flood_) m = rte_pktmbuf_alloc(stage_pool());
    ok_ = handshake();
  }
  ~StageBench() {
    for (rte_mbuf* m : pkts_) rte_pktmbuf_free(m);
    for (rte_mbuf* m : flood_) rte_pktmbuf_free(m);
    tb_.reset();
  }
  bool ok() const { return ok_; }
  // Rounds of the flood's burst alone, no data: the flood's own cycles per segment.
  void flood_only() { flood_only_ = true; }
  tcp::TcpStage& stage() { return *tcp_.stages[0]; }

  // Rewrites the burst as the next 32 in-order segments and gives each an extra reference.
  void restore() {
    for (rte_mbuf* m : pkts_) {
      uint8_t* t = tcp_of(m);
      const uint32_t old = wire::load32(t, f::kSeq);
      wire::store32(t, f::kSeq, seq_);
      if (offload_) {
        m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD;  // as a NIC that checked it
      } else {
        uint16_t c = wire::load16(t, f::kChecksum);
        c = wire::checksum_update16(c, uint16_t(old >> 16), uint16_t(seq_ >> 16));
        c = wire::checksum_update16(c, uint16_t(old), uint16_t(seq_));
        wire::store16(t, f::kChecksum, c);
        m->ol_flags = 0;
      }
      rte_mbuf_refcnt_set(m, 2);  // the engine's free after consume leaves it ours
      seq_ += kPayload;
    }
  }
  // The burst through the worker; the ACKs it sent taken back (and freed, as a PMD would after
  // transmit). Returns the ACK count.
  uint32_t round(bool harness_only, Flood flood = Flood::kNone) {
    if (flood_only_) {
      aim_flood(flood);
      tb_->worker().process(flood_, kBurst, 0);
      tb_->worker().flush();
      return drain(out_);
    }
    restore();
    if (harness_only) {
      rte_ring_enqueue_bulk(out_, reinterpret_cast<void**>(pkts_), kBurst, nullptr);
      for (rte_mbuf* m : pkts_) rte_mbuf_refcnt_set(m, 1);
      rte_ring_dequeue_bulk(out_, reinterpret_cast<void**>(pkts_), kBurst, nullptr);
      return 0;
    }
    pipeline::Worker& w = tb_->worker();
    w.process(pkts_, kBurst, 0);
    if (flood != Flood::kNone) {
      aim_flood(flood);
      w.process(flood_, kBurst, 0);
    }
    w.flush();
    return drain(out_);
  }
  // Counted by the stage: what the flood's segments drew (challenge ACKs sent, limited).
  uint64_t counter(net::Counter c) { return tb_->worker().counters().get(c); }
  // The live connection is still there, established (no attacker segment reset it).
  bool established() {
    bool up = false;
    stage().host().for_each([&](const tcp::Connection& c) { up = c.state() == tcp::State::kEstablished; });
    return up;
  }
  uint64_t received() const { return discard_.bytes; }

 private:
  // The flood's segments, each with a fresh random number where a blind attacker must guess
  // (a NIC validated the checksum: the row measures TCP, not checksumming garbage).
  void aim_flood(Flood kind) {
    for (rte_mbuf* m : flood_) {
      uint8_t* t = tcp_of(m);
      if (kind == Flood::kRst) {
        wire::store32(t, f::kSeq, uint32_t(rng_()));
        t[f::kFlags] = f::kRst;
      } else {
        wire::store32(t, f::kSeq, seq_);
        wire::store32(t, f::kAck, uint32_t(rng_()));
        t[f::kFlags] = f::kAck_;
      }
      m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
      rte_mbuf_refcnt_set(m, 2);
    }
  }

  bool handshake() {
    pipeline::Worker& w = tb_->worker();
    f::Options syn_opt;
    syn_opt.mss = 1460;
    syn_opt.window_shift = 7;
    syn_opt.sack_permitted = true;
    syn_opt.has_timestamps = true;
    syn_opt.ts_val = 1000;
    const uint32_t iss = 0x10000000;
    rte_mbuf* m = rte_pktmbuf_alloc(stage_pool());
    write_segment(m, {kPeerPort, kPort, iss, 0, f::kSyn, 65535}, syn_opt, 0);
    w.process(&m, 1, 0);
    w.flush();
    rte_mbuf* synack = nullptr;
    if (rte_ring_dequeue(out_, reinterpret_cast<void**>(&synack)) != 0) return false;
    const uint8_t* t = tcp_of(synack);
    const f::Header sa = f::read_header(t);
    const f::Options sa_opt = f::parse_options(t + f::kMinHeaderLen, f::header_len(t) - f::kMinHeaderLen);
    rte_pktmbuf_free(synack);
    if ((sa.flags & (f::kSyn | f::kAck_)) != (f::kSyn | f::kAck_) || sa.ack != iss + 1) return false;
    // Every later segment: ACK of their SYN, our window 64 K << 7, timestamps echoing theirs.
    f::Options opt;
    opt.has_timestamps = true;
    opt.ts_val = 1001;
    opt.ts_ecr = sa_opt.ts_val;
    const f::Header ack{kPeerPort, kPort, iss + 1, sa.seq + 1, f::kAck_, 65535};
    m = rte_pktmbuf_alloc(stage_pool());
    write_segment(m, ack, opt, 0);
    w.process(&m, 1, 0);
    w.flush();
    tcp::Connection* c = nullptr;
    stage().host().for_each([&](tcp::Connection& x) { c = &x; });
    if (!c || c->state() != tcp::State::kEstablished || c->mss() != kPayload) return false;
    seq_ = iss + 1;
    f::Header data = ack;
    data.flags = f::kAck_ | f::kPsh;
    for (rte_mbuf* d : pkts_) {
      write_segment(d, data, opt, kPayload);  // seq rewritten (and checksum patched) per round
    }
    for (rte_mbuf* d : flood_) write_segment(d, ack, opt, 0);  // numbers and flags set per round
    return true;
  }

  bool offload_;
  tcp::TcpShared tcp_;
  Discard discard_;
  std::unique_ptr<RingTestbed> tb_;
  rte_ring* out_ = nullptr;
  rte_mbuf* pkts_[kBurst];
  rte_mbuf* flood_[kBurst];
  std::mt19937 rng_{21};
  bool flood_only_ = false;
  uint32_t seq_ = 0;
  bool ok_ = false;
};

void rx_in_order(benchmark::State& state, bool offload, bool harness_only) {
  StageBench b(offload);
  if (!b.ok()) {
    state.SkipWithError("stage: the handshake did not establish the connection");
    return;
  }
  for (int i = 0; i < 100; ++i) b.round(harness_only);  // warm
  const uint64_t bytes0 = b.received();
  uint64_t acks = 0;
  {
    perf::CyclesPerOp cycles(state, kBurst);
    for (auto _ : state) acks += b.round(harness_only);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
  if (!harness_only) {
    state.counters["acks_per_seg"] = double(acks) / double(state.iterations() * kBurst);
    if (b.received() - bytes0 != uint64_t(state.iterations()) * kBurst * kPayload)
      state.SkipWithError("stage: not every segment was received in order");
  }
}

// Arg 1: RSTs with random sequence numbers; arg 2: ACKs of random data. Second arg 0: the flood
// alone, cycles per attacker segment (for a profile of where they go).
void BM_TcpRxUnderFlood(benchmark::State& state) {
  StageBench b(true);
  const bool with_data = state.range(1) != 0;
  if (!with_data) b.flood_only();
  if (!b.ok()) {
    state.SkipWithError("flood: the handshake did not establish the connection");
    return;
  }
  const Flood kind = state.range(0) == 1 ? Flood::kRst : Flood::kAck;
  for (int i = 0; i < 100; ++i) b.round(false, kind);  // warm
  const uint64_t bytes0 = b.received();
  // What the flood drew: answers sent (challenge ACKs, RFC 5961) and answers the limits held back.
  const std::pair<const char*, net::Counter> drawn[] = {{"challenge_acks", net::Counter::tcp_challenge_acks},
                                                        {"challenges_limited", net::Counter::tcp_challenge_acks_limited},
                                                        {"out_of_window", net::Counter::tcp_out_of_window},
                                                        {"oow_acks_limited", net::Counter::tcp_invalid_acks_limited}};
  uint64_t before[std::size(drawn)];
  for (size_t i = 0; i < std::size(drawn); ++i) before[i] = b.counter(drawn[i].second);
  {
    perf::CyclesPerOp cycles(state, kBurst);  // per data segment and one attacker segment, or per attacker segment
    for (auto _ : state) b.round(false, kind);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
  for (size_t i = 0; i < std::size(drawn); ++i)
    state.counters[drawn[i].first] = double(b.counter(drawn[i].second) - before[i]);
  const uint64_t want = with_data ? uint64_t(state.iterations()) * kBurst * kPayload : 0;
  if (b.received() - bytes0 != want || !b.established())
    state.SkipWithError("flood: the live connection lost data or was reset");
}

void BM_TcpRxInOrder(benchmark::State& state) { rx_in_order(state, state.range(0) != 0, false); }
void BM_TcpRxHarnessOnly(benchmark::State& state) { rx_in_order(state, true, true); }

}  // namespace

BENCHMARK(BM_TcpRxInOrder)->ArgName("offload")->Arg(1)->Arg(0);
BENCHMARK(BM_TcpRxHarnessOnly);
BENCHMARK(BM_TcpRxUnderFlood)->ArgNames({"kind", "data"})->Args({1, 1})->Args({2, 1})->Args({1, 0})->Args({2, 0});
