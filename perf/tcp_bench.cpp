// TCP's own cost per segment, per transaction and per connection, on one core (issue 9).
//
// Engine rows (BM_TcpBulk, BM_TcpRr, BM_TcpCrr): two tcp::Host endpoints in this one thread,
// joined by a lean in-memory link, so every segment is built, sent, looked up, received and
// acknowledged by code redline runs, and both ends' costs land on the one core measured:
//   - a segment is written once, straight into a buffer from a free list (header, options,
//     payload copied from the send queue, checksum in software: what MbufEnv::send does into an
//     mbuf), and handed to the peer as a pointer; the receiver gets a view into that buffer
//     (zero copy, as TcpStage gives the engine a view into the mbuf) and frees it when the
//     application has consumed the bytes;
//   - receive looks connections up in bulk in the same rte_hash FlowIndex the stage uses;
//   - no receive checksum check (a NIC's L4 offload vouches for it: the stage then skips it;
//     BM_TcpRxInOrder below measures it both ways);
//   - time is the TSC, in the worker's tick (tsc_hz / 2^k ~ 10 kHz), and each link step is a
//     worker loop iteration: timers advanced, both inboxes delivered, both hosts polled.
// The unit test link (tests/unit/tcp_link.hpp) copies every segment into a std::vector and
// parses it twice for its log: right for tests, ten times the cost being measured here.
//
// The stage rows are in tcp_bench_stage.cpp (received segments) and tcp_bench_syn.cpp (SYNs).
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <x86intrin.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "drivers/scratch_eal.hpp"
#include "perf/tcp_bench_common.hpp"
#include "perf/tsc.hpp"
#include "stack/endpoint/local_ports.hpp"
#include "stack/pipeline/flow_table.hpp"
#include "stack/services/services.hpp"
#include "stack/tcp/tcp_stage.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/tcp.hpp"

using namespace redline;
using perf::bench_settings;
using perf::Discard;
namespace f = wire::tcp;

namespace {

// ------------------------------------------------------------------------------------------
// The engine pair over a lean link.

constexpr uint32_t kBufSize = 2048;  // an mbuf's data room (RTE_MBUF_DEFAULT_DATAROOM)
constexpr uint32_t kBatch = 32;      // frames per bulk lookup, as a burst in the stage

// Fixed-size buffers from one slab, on a LIFO free list (the most recently freed buffer is the
// warmest, as a mempool's per-core cache hands out), with a reference count each as an mbuf has
// (a buffer sent in place is held by the sender's send queue and the receiver's queue at once).
class BufPool {
 public:
  explicit BufPool(uint32_t n)
      : slab_(static_cast<uint8_t*>(std::aligned_alloc(64, size_t(n) * kBufSize))), refs_(n, 0) {
    free_.reserve(n);
    for (uint32_t i = n; i-- > 0;) free_.push_back(slab_.get() + size_t(i) * kBufSize);
  }
  uint8_t* get() {
    if (free_.empty()) return nullptr;
    uint8_t* b = free_.back();
    free_.pop_back();
    refs_[index(b)] = 1;
    return b;
  }
  // `p` may point anywhere into its buffer.
  void put(uint8_t* p) {
    uint8_t* b = base(p);
    if (--refs_[index(b)] == 0) free_.push_back(b);
  }
  void retain(uint8_t* p) { ++refs_[index(base(p))]; }
  uint16_t refs(uint8_t* p) const { return refs_[index(base(p))]; }
  uint8_t* base(uint8_t* p) const { return slab_.get() + size_t(index(p)) * kBufSize; }
  size_t available() const { return free_.size(); }

 private:
  uint32_t index(const uint8_t* p) const { return uint32_t(size_t(p - slab_.get()) / kBufSize); }
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> slab_;
  std::vector<uint16_t> refs_;
  std::vector<uint8_t*> free_;
};

struct Frame {
  uint8_t* buf;  // the TCP header at buf[0]
  uint32_t len;  // header + payload
  uint32_t src_ip, dst_ip;
};

struct LinkCounts {
  uint64_t segments = 0, data_segments = 0, payload_bytes = 0;
};

class LeanEnv final : public tcp::Env {
 public:
  LeanEnv(BufPool& pool, uint32_t ip, std::vector<Frame>& peer_inbox, LinkCounts& counts)
      : pool_(pool), ip_(ip), peer_(peer_inbox), counts_(counts) {}
  bool send(const tcp::SegmentOut& s) override {
    // Zero copy as MbufEnv::frame_in_place decides it: the payload's own buffer, headers written
    // in front of it, when no one else holds that buffer.
    const size_t hl = f::kMinHeaderLen + f::options_len(s.opt);
    const tcp::Chunk* c = s.len && s.conn->host().settings().zero_copy_send ? s.conn->payload_in_one_chunk(s.offset, s.len) : nullptr;
    uint8_t* b;
    if (c && pool_.refs(c->data) == 1 && c->data - pool_.base(c->data) >= ptrdiff_t(hl)) {
      b = c->data - hl;
      pool_.retain(b);
      f::write_header(b, s.h, s.opt);
    } else {
      b = pool_.get();
      if (!b) return false;
      f::write_header(b, s.h, s.opt);
      if (s.len) s.conn->copy_payload(s.offset, s.len, b + hl);
    }
    const uint16_t len = uint16_t(hl + s.len);
    // RFC 9293 §3.1, as MbufEnv::send computes it (no TX offload there either).
    const uint32_t pseudo = f::pseudo_header_sum(s.src.ip, s.dst.ip, 6, len);
    wire::store16(b, f::kChecksum, uint16_t(~wire::ones_complement_sum(b, len, pseudo)));
    peer_.push_back({b, len, s.src.ip, s.dst.ip});
    ++counts_.segments;
    if (s.len) {
      ++counts_.data_segments;
      counts_.payload_bytes += s.len;
    }
    return true;
  }
  tcp::Chunk alloc() override {
    uint8_t* b = pool_.get();
    if (!b) return {};
    // An mbuf's headroom in front of the data, where headers go when it is sent in place.
    return {b, b + RTE_PKTMBUF_HEADROOM, 0, kBufSize - RTE_PKTMBUF_HEADROOM};
  }
  void retain(void* owner) override { pool_.retain(static_cast<uint8_t*>(owner)); }
  void release(void* owner) override { pool_.put(static_cast<uint8_t*>(owner)); }
  tcp::Endpoint route(uint32_t, uint16_t* mss) override {
    *mss = 1460;  // a 1500-byte MTU, as the veth and memif baselines
    return {ip_, 0};
  }
  uint16_t take_local_port(uint32_t l, tcp::Endpoint r, const std::function<bool(uint16_t)>& usable) override {
    return ports_.take_for_connection(6, net::to_be(l), net::to_be(r.ip), net::to_be(r.port), {61000, 65535}, usable).port;
  }
  void release_local_port(uint32_t l, uint16_t p) override { ports_.release_connection_port(6, net::to_be(l), p); }
  void count(net::Counter, uint64_t) override {}  // the worker's counters are per-core adds: noise here

 private:
  BufPool& pool_;
  endpoint::LocalPorts ports_{{}, {}, {}};
  uint32_t ip_;
  std::vector<Frame>& peer_;
  LinkCounts& counts_;
};

unsigned tick_shift(uint64_t tsc_hz) {  // as the Worker's clock (stack/pipeline/worker.cpp)
  unsigned shift = 0;
  while ((uint64_t(1) << (shift + 1)) <= tsc_hz / 10'000) ++shift;
  return shift;
}

struct End {
  End(const char* name, BufPool& pool, uint32_t ip, std::vector<Frame>& peer_inbox, LinkCounts& counts,
      const tcp::Settings& s, uint64_t now, uint64_t ticks_per_s, uint64_t seed)
      : env(pool, ip, peer_inbox, counts), wheel(now) {
    std::string error;
    auto t = pipeline::FlowTable::create(name, s.max_connections, 0, nullptr, &error);
    if (!t) {
      std::fprintf(stderr, "tcp_bench: %s\n", error.c_str());
      std::exit(1);
    }
    index = std::make_unique<tcp::FlowIndex>(std::move(t));
    const uint64_t key[2] = {seed * 0x9e3779b97f4a7c15ull + 1, seed ^ 0x5bd1e995};
    host = std::make_unique<tcp::Host>(env, *index, wheel, ticks_per_s, s, key);
    host->set_now(now);
  }
  ~End() { host.reset(); }
  LeanEnv env;
  std::unique_ptr<tcp::FlowIndex> index;
  timer::Wheel wheel;
  std::unique_ptr<tcp::Host> host;
};

constexpr uint32_t kIpA = 0x0a4d0001, kIpB = 0x0a4d0002;  // 10.77.0.1, 10.77.0.2

class Pair {
 public:
  explicit Pair(const tcp::Settings& s, uint32_t buffers = 16384)
      : pool_(buffers),
        shift_(tick_shift(rte_get_tsc_hz())),
        a_("tb_conns_a", pool_, kIpA, to_b_, counts, s, now(), rte_get_tsc_hz() >> shift_, 1),
        b_("tb_conns_b", pool_, kIpB, to_a_, counts, s, now(), rte_get_tsc_hz() >> shift_, 2) {
    to_a_.reserve(4096);
    to_b_.reserve(4096);
  }
  ~Pair() {
    for (auto* q : {&to_a_, &to_b_})
      for (const Frame& fr : *q) pool_.put(fr.buf);
  }
  tcp::Host& a() { return *a_.host; }
  tcp::Host& b() { return *b_.host; }
  LinkCounts counts;

  // One worker loop iteration for both ends: timers, what arrived, pending output.
  void step() {
    const uint64_t t = now();
    for (End* e : {&a_, &b_}) {
      e->host->set_now(t);
      e->wheel.advance(t, 64);
    }
    deliver(b_, to_b_);
    deliver(a_, to_a_);
    a_.host->poll();
    b_.host->poll();
  }

 private:
  uint64_t now() const { return __rdtsc() >> shift_; }
  // Delivers everything in `inbox` to `e`, in batches looked up in bulk as TcpStage::run does.
  // Frames `e` sends meanwhile go to the other inbox, so this one only shrinks.
  void deliver(End& e, std::vector<Frame>& inbox) {
    const size_t total = inbox.size();
    for (size_t base = 0; base < total; base += kBatch) {
      const uint32_t n = uint32_t(std::min<size_t>(kBatch, total - base));
      net::FiveTuple keys[kBatch];
      void* found[kBatch];
      for (uint32_t k = 0; k < n; ++k) {
        const Frame& fr = inbox[base + k];
        keys[k] = {};
        keys[k].src_ip = net::to_be(fr.src_ip);
        keys[k].dst_ip = net::to_be(fr.dst_ip);
        keys[k].src_port = wire::load_raw16(fr.buf + f::kSrcPort);
        keys[k].dst_port = wire::load_raw16(fr.buf + f::kDstPort);
        keys[k].protocol = 6;
      }
      const uint64_t hits = e.index->table().find_bulk(keys, n, found);
      for (uint32_t k = 0; k < n; ++k) {
        const Frame& fr = inbox[base + k];
        const f::Header h = f::read_header(fr.buf);
        const size_t hl = f::header_len(fr.buf);
        const f::Options opt = hl > f::kMinHeaderLen ? f::parse_options(fr.buf + f::kMinHeaderLen, hl - f::kMinHeaderLen)
                                                     : f::Options{};
        // The owner is the buffer (the frame may start inside it: sent in place); room behind the
        // payload only if no one else holds the buffer, as TcpStage::run gives it.
        uint8_t* end = fr.buf + fr.len;
        const uint32_t room = pool_.refs(fr.buf) == 1 ? uint32_t(pool_.base(fr.buf) + kBufSize - end) : 0;
        const tcp::Chunk c{pool_.base(fr.buf), fr.buf + hl, uint32_t(fr.len - hl), room};
        auto* conn = (hits >> k) & 1 ? static_cast<tcp::Connection*>(found[k]) : nullptr;
        if (!e.host->input(conn, {fr.src_ip, h.src_port}, {fr.dst_ip, h.dst_port}, h, opt, c)) pool_.put(fr.buf);
      }
    }
    inbox.clear();
  }

  BufPool pool_;
  unsigned shift_;
  std::vector<Frame> to_a_, to_b_;  // the link: frames on their way, by destination
  End a_, b_;
};

// What the engine rows report: the counts over the timed loop, per TSC second and per op.
struct Window {
  explicit Window(const Pair& p) : start(p.counts), tsc(__rdtsc()) {}
  LinkCounts start;
  uint64_t tsc;
  void report(benchmark::State& state, const Pair& p, uint64_t ops, const char* op_name) const {
    const double cycles = double(__rdtsc() - tsc);
    const double seconds = cycles / double(rte_get_tsc_hz());
    const double segs = double(p.counts.segments - start.segments);
    const double data = double(p.counts.data_segments - start.data_segments);
    const double bytes = double(p.counts.payload_bytes - start.payload_bytes);
    state.SetItemsProcessed(int64_t(ops));
    state.counters["ops"] = double(ops);
    state.counters[std::string(op_name) + "_per_s"] = double(ops) / seconds;
    state.counters["cycles/op"] = ops ? cycles / double(ops) : 0;
    state.counters["segs_per_s"] = segs / seconds;
    state.counters["cycles_per_seg"] = segs ? cycles / segs : 0;
    state.counters["segs_per_op"] = ops ? segs / double(ops) : 0;
    state.counters["data_segs_per_s"] = data / seconds;
    state.counters["Gbit_per_s"] = bytes * 8 / seconds / 1e9;
    state.counters["cycles_per_byte"] = bytes ? cycles / bytes : 0;
  }
};


// --- bulk: one connection, A writes as fast as the send buffer takes it, B discards ---

const std::vector<uint8_t>& block() {
  static const std::vector<uint8_t> b = [] {
    std::vector<uint8_t> v(65536);
    for (size_t i = 0; i < v.size(); ++i) v[i] = uint8_t(i * 131 + 7);
    return v;
  }();
  return b;
}

class BulkSender final : public tcp::Handler {
 public:
  bool connected = false, closed = false;
  void on_connected(tcp::Connection& c) override {
    connected = true;
    pump(c);
  }
  void on_writable(tcp::Connection& c) override { pump(c); }
  void on_closed(tcp::Connection&, tcp::Error) override { closed = true; }
  // An application write loop: copies into the send buffer until it is full.
  static void pump(tcp::Connection& c) {
    while (c.send(block().data(), block().size()) == block().size()) {
    }
  }
};


// zero_copy: segments leave in the send buffer's own buffers (the default); false: every payload
// copied into a new buffer, as with [tcp] zero_copy_send = false.
void bulk(benchmark::State& state, bool zero_copy) {
  tcp::Settings settings = bench_settings();
  settings.zero_copy_send = zero_copy;
  Pair p(settings);
  Discard server;
  BulkSender client;
  p.b().listen(9, server);
  tcp::Connection* c = p.a().connect({kIpB, 9}, client);
  // Out of slow start and to a full window before timing.
  for (int i = 0; i < 3000 && !client.closed; ++i) p.step();
  if (!client.connected || client.closed || !c) {
    state.SkipWithError("bulk: no connection");
    return;
  }
  const uint64_t bytes0 = server.bytes;
  const Window w(p);
  for (auto _ : state) p.step();
  const uint64_t data = p.counts.data_segments - w.start.data_segments;
  w.report(state, p, data, "data_segs");
  state.counters["cwnd"] = double(c->cwnd());
  if (client.closed || server.bytes == bytes0) state.SkipWithError("bulk: the transfer stopped");
}

// --- request/response: N connections, each 64 bytes there and 64 back, one at a time ---

constexpr uint32_t kMsg = 64;
const uint8_t kRequest[kMsg] = {1};

class RrClient final : public tcp::Handler {
 public:
  uint64_t transactions = 0;
  uint32_t connected = 0, closed = 0;
  void on_connected(tcp::Connection& c) override {
    ++connected;
    c.set_nodelay(true);
    c.send(kRequest, kMsg);
  }
  void on_data(tcp::Connection& c) override {
    if (c.readable() < kMsg) return;  // a reply comes whole here; a real client would wait
    c.consume(kMsg);
    ++transactions;
    c.send(kRequest, kMsg);
  }
  void on_closed(tcp::Connection&, tcp::Error) override { ++closed; }
};

// RFC 862 echo, the echo service's own step (services::echo_what_fits): what arrives goes back,
// then the server closes once the client has.
class Echo final : public tcp::Listener, public tcp::Handler {
 public:
  uint64_t closed = 0;
  tcp::Handler* on_accept(tcp::Connection& c) override {
    c.set_nodelay(true);
    return this;
  }
  void on_data(tcp::Connection& c) override { services::echo_what_fits(c); }
  void on_peer_closed(tcp::Connection& c) override { services::echo_what_fits(c); }
  void on_closed(tcp::Connection&, tcp::Error) override { ++closed; }
};

void rr(benchmark::State& state) {
  const uint32_t conns = uint32_t(state.range(0));
  Pair p(bench_settings());
  Echo server;
  RrClient client;
  p.b().listen(7, server);
  for (uint32_t i = 0; i < conns; ++i)
    if (!p.a().connect({kIpB, 7}, client)) {
      state.SkipWithError("rr: connect failed");
      return;
    }
  for (int i = 0; i < 2000; ++i) p.step();
  if (client.connected != conns || client.closed) {
    state.SkipWithError("rr: connections did not open");
    return;
  }
  const uint64_t t0 = client.transactions;
  const Window w(p);
  for (auto _ : state) p.step();
  w.report(state, p, client.transactions - t0, "transactions");
  if (client.closed) state.SkipWithError("rr: a connection ended");
}

// --- connect, request, response, close: K at a time, each replaced when it ends ---

class CrrClient final : public tcp::Handler {
 public:
  uint64_t done = 0, failed = 0;
  uint32_t to_open = 0;
  void on_connected(tcp::Connection& c) override {
    c.set_nodelay(true);
    c.send(kRequest, kMsg);
  }
  void on_data(tcp::Connection& c) override {
    if (c.readable() < kMsg) return;
    c.consume(kMsg);
    c.close();  // the client closes first, as netperf's TCP_CRR: its side goes to TIME-WAIT
  }
  void on_closed(tcp::Connection&, tcp::Error e) override {
    if (e == tcp::Error::kNone) ++done; else ++failed;
    ++to_open;  // opened by the loop, outside the callback
  }
};

void crr(benchmark::State& state) {
  const uint32_t parallel = uint32_t(state.range(0));
  tcp::Settings s = bench_settings();
  Pair p(s);
  Echo server;
  CrrClient client;
  p.b().listen(7, server);
  client.to_open = parallel;
  auto open = [&] {
    for (; client.to_open; --client.to_open)
      if (!p.a().connect({kIpB, 7}, client)) ++client.failed;
  };
  // Warm-up: past the first wrap of TIME-WAIT (16384 held, then the oldest recycled per new
  // connection), so the loop measures the steady state a busy server runs in.
  for (int i = 0; i < 200000 && client.done < s.time_wait_max + 4096; ++i) {
    open();
    p.step();
  }
  const uint64_t d0 = server.closed;
  const Window w(p);
  for (auto _ : state) {
    open();
    p.step();
  }
  // Completed when the server's side is gone too (it closes last, from LAST-ACK).
  w.report(state, p, server.closed - d0, "connections");
  state.counters["time_wait"] = double(p.a().stats().time_wait);
  if (client.failed) state.SkipWithError("crr: connections failed");
}

}  // namespace

void bulk_zero_copy(benchmark::State& state) { bulk(state, true); }
void bulk_copied(benchmark::State& state) { bulk(state, false); }
BENCHMARK(bulk_zero_copy)->Name("BM_TcpBulk");
BENCHMARK(bulk_copied)->Name("BM_TcpBulkCopy");
BENCHMARK(rr)->Name("BM_TcpRr")->Arg(1)->Arg(32);
BENCHMARK(crr)->Name("BM_TcpCrr")->Arg(32);

int main(int argc, char** argv) {
  drivers::ScratchEal eal("tcp_bench", 1024);
  if (!eal.ok()) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
