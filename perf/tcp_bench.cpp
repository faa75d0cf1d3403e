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
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <x86intrin.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "drivers/scratch_eal.hpp"
#include "perf/tsc.hpp"
#include "stack/services/services.hpp"
#include "stack/pipeline/flow_table.hpp"
#include "stack/tcp/tcp_stage.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/tcp.hpp"
#include "tests/support/ring_testbed.hpp"

using namespace redline;
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
  bool port_is_ours(uint32_t, uint16_t, uint32_t, uint16_t) override { return true; }
  void count(net::Counter, uint64_t) override {}  // the worker's counters are per-core adds: noise here

 private:
  BufPool& pool_;
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

tcp::Settings bench_settings() {
  tcp::Settings s;
  s.max_connections = 65536;
  return s;
}

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

class Discard final : public tcp::Listener, public tcp::Handler {
 public:
  uint64_t bytes = 0;
  tcp::Handler* on_accept(tcp::Connection&) override { return this; }
  void on_data(tcp::Connection& c) override {
    bytes += c.readable();
    c.consume(c.readable());
  }
  void on_peer_closed(tcp::Connection& c) override {
    c.consume(c.readable());
    c.close();
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

// ------------------------------------------------------------------------------------------
// The stage: a Worker with a TcpStage and one established connection.

using testing::kHostA;
using testing::kMacA;
using testing::RingTestbed;

constexpr uint32_t kBurst = 32;
constexpr uint16_t kPayload = 1448;  // MSS 1460 minus the timestamps option
const uint32_t kPeer = 0x0a000102;   // 10.0.1.2, host A; redline is 10.0.1.1 on port a
const uint32_t kLocal = 0x0a000101;
constexpr uint16_t kPeerPort = 40000, kPort = 9;

rte_mempool* stage_pool() {
  static rte_mempool* p = rte_pktmbuf_pool_create("tcpb_pool", 8192, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  return p;
}

// A frame from host A to redline: Ethernet, IPv4, TCP with `opt`, `payload` bytes of zeros.
void write_segment(rte_mbuf* m, const f::Header& h, const f::Options& opt, uint16_t payload) {
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

uint8_t* tcp_of(rte_mbuf* m) {
  return rte_pktmbuf_mtod_offset(m, uint8_t*, wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen);
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit field changing from m to m'.
uint16_t patch(uint16_t hc, uint16_t from, uint16_t to) {
  uint32_t s = uint32_t(uint16_t(~hc)) + uint16_t(~from) + to;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

// A worker on ring ports whose TcpStage listens on kPort with `discard` (tcp.settings as given).
std::unique_ptr<RingTestbed> tcp_testbed(tcp::TcpShared& tcp, Discard& discard) {
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

class StageBench {
 public:
  explicit StageBench(bool offload) : offload_(offload) {
    tcp_.settings = bench_settings();
    tcp_.settings.max_connections = 1024;
    tb_ = tcp_testbed(tcp_, discard_);
    tb_->neighbors().learn(net::Ipv4Addr{kPeer}, {kHostA, 0});
    out_ = tb_->a().tx[0];
    for (auto& m : pkts_) m = rte_pktmbuf_alloc(stage_pool());
    ok_ = handshake();
  }
  ~StageBench() {
    for (rte_mbuf* m : pkts_) rte_pktmbuf_free(m);
    tb_.reset();
  }
  bool ok() const { return ok_; }
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
        c = patch(c, uint16_t(old >> 16), uint16_t(seq_ >> 16));
        c = patch(c, uint16_t(old), uint16_t(seq_));
        wire::store16(t, f::kChecksum, c);
        m->ol_flags = 0;
      }
      rte_mbuf_refcnt_set(m, 2);  // the engine's free after consume leaves it ours
      seq_ += kPayload;
    }
  }
  // The burst through the worker; the ACKs it sent taken back (and freed, as a PMD would after
  // transmit). Returns the ACK count.
  uint32_t round(bool harness_only) {
    restore();
    if (harness_only) {
      rte_ring_enqueue_bulk(out_, reinterpret_cast<void**>(pkts_), kBurst, nullptr);
      for (rte_mbuf* m : pkts_) rte_mbuf_refcnt_set(m, 1);
      rte_ring_dequeue_bulk(out_, reinterpret_cast<void**>(pkts_), kBurst, nullptr);
      return 0;
    }
    pipeline::Worker& w = tb_->worker();
    w.process(pkts_, kBurst, 0);
    w.flush();
    rte_mbuf* acks[kBurst];
    const uint32_t n = rte_ring_dequeue_burst(out_, reinterpret_cast<void**>(acks), kBurst, nullptr);
    if (n) rte_pktmbuf_free_bulk(acks, n);
    return n;
  }
  uint64_t received() const { return discard_.bytes; }

 private:
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
    return true;
  }

  bool offload_;
  tcp::TcpShared tcp_;
  Discard discard_;
  std::unique_ptr<RingTestbed> tb_;
  rte_ring* out_ = nullptr;
  rte_mbuf* pkts_[kBurst];
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

// ------------------------------------------------------------------------------------------
// SYNs answered (issue 21): a burst of 32 SYNs, each a new 4-tuple, through Worker::process and
// flush, the 32 SYN-ACKs taken back, on a listener with room (each SYN makes a half-open
// connection: allocation, table insert, ISN, timer) or one whose backlog is full (each SYN-ACK
// carries a SYN cookie and nothing is kept). The SYN mbufs are reused with an extra reference;
// the round rewrites the source port and patches the checksum (RFC 1624). On the listener with
// room the half-open connections are aborted, untimed, every kCleanEvery SYNs.
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
    rte_mbuf* out[kBurst];
    uint32_t got = 0, n;
    while ((n = rte_ring_dequeue_burst(out_, reinterpret_cast<void**>(out), kBurst, nullptr)) > 0) {
      rte_pktmbuf_free_bulk(out, n);
      got += n;
    }
    sent_ += kBurst;
    return got;
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
        rte_mbuf* out[kBurst];
        uint32_t n;
        while ((n = rte_ring_dequeue_burst(out_, reinterpret_cast<void**>(out), kBurst, nullptr)) > 0)
          rte_pktmbuf_free_bulk(out, n);
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
    wire::store16(t, f::kChecksum, patch(wire::load16(t, f::kChecksum), old, port_));
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

void BM_TcpRxInOrder(benchmark::State& state) { rx_in_order(state, state.range(0) != 0, false); }
void BM_TcpRxHarnessOnly(benchmark::State& state) { rx_in_order(state, true, true); }

}  // namespace

void bulk_zero_copy(benchmark::State& state) { bulk(state, true); }
void bulk_copied(benchmark::State& state) { bulk(state, false); }
BENCHMARK(bulk_zero_copy)->Name("BM_TcpBulk");
BENCHMARK(bulk_copied)->Name("BM_TcpBulkCopy");
BENCHMARK(rr)->Name("BM_TcpRr")->Arg(1)->Arg(32);
BENCHMARK(crr)->Name("BM_TcpCrr")->Arg(32);
// Arg: 1 = the NIC vouched for the checksum (RX offload), 0 = checked in software.
BENCHMARK(BM_TcpRxInOrder)->ArgName("offload")->Arg(1)->Arg(0);
BENCHMARK(BM_TcpRxHarnessOnly);
BENCHMARK(BM_TcpSynListen);
BENCHMARK(BM_TcpSynCookie);

int main(int argc, char** argv) {
  drivers::ScratchEal eal("tcp_bench", 1024);
  if (!eal.ok()) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
