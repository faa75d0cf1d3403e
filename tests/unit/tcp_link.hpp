// Two TCP hosts over an in-memory link, driven by a fake clock: every timer and corner case of
// the engine runs deterministically. Segments cross the link as real bytes (header, options,
// payload, checksum written and parsed by stack/wire/tcp.hpp), so the wire format is exercised
// too. The link can lose, reorder, duplicate and delay segments from a seeded generator, or by
// a rule the test sets (drop exactly the 3rd data segment, ...).
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "stack/endpoint/local_ports.hpp"
#include "stack/tcp/host.hpp"
#include "stack/wire/checksum.hpp"

namespace redline::testing {

using tcp::Chunk;
using tcp::Endpoint;

// A frame as it crosses the link: the TCP segment's bytes and its addresses.
struct Wire {
  uint32_t src_ip = 0, dst_ip = 0;
  std::vector<uint8_t> bytes;
  uint64_t deliver_at = 0;
  uint64_t order = 0;
};

// Parsed view of a frame, for rules and assertions.
struct Seen {
  wire::tcp::Header h;
  wire::tcp::Options opt;
  uint32_t payload_len = 0;
  uint32_t src_ip = 0, dst_ip = 0;
  uint64_t at = 0;  // the tick it entered the link (timer tests measure intervals with it)
  bool has(uint8_t flag) const { return (h.flags & flag) != 0; }
};

inline Seen parse_wire(const Wire& w) {
  Seen s;
  s.h = wire::tcp::read_header(w.bytes.data());
  const size_t hl = wire::tcp::header_len(w.bytes.data());
  s.opt = wire::tcp::parse_options(w.bytes.data() + wire::tcp::kMinHeaderLen, hl - wire::tcp::kMinHeaderLen);
  s.payload_len = uint32_t(w.bytes.size() - hl);
  s.src_ip = w.src_ip;
  s.dst_ip = w.dst_ip;
  return s;
}

struct Impairment {
  double loss = 0, dup = 0, reorder = 0;  // probabilities per segment
  uint64_t delay_ticks = 1;               // one-way delay
  uint64_t reorder_extra_ticks = 3;       // how much later a reordered segment arrives
};

// Counts test buffers so that every test can prove nothing leaked.
struct BufferLedger {
  int64_t live = 0;
};

class TestEnv final : public tcp::Env {
 public:
  TestEnv(BufferLedger& ledger, uint32_t ip, uint16_t mss) : ledger_(ledger), ip_(ip), mss_(mss) {}
  std::function<void(Wire&&)> out;
  std::function<bool(uint32_t, uint16_t, uint32_t, uint16_t)> port_filter;  // RSS stand-in
  endpoint::LocalPorts ports{{}, {}, {}};
  endpoint::PortRange ephemeral;  // the host's Settings::ephemeral_low/high (Side sets it)
  std::map<net::Counter, uint64_t> counters;
  bool fail_sends = false;
  bool fail_alloc = false;
  std::map<void*, int> extra_refs;  // buffers held by more than one queue: references beyond the first

  bool send(const tcp::SegmentOut& s) override {
    if (fail_sends) return false;
    // What MbufEnv decides, counted the same way: a payload in one buffer nobody else holds is
    // sent in place (the test wire copies it anyway).
    if (s.len) {
      const tcp::Chunk* c = s.conn->host().settings().zero_copy_send ? s.conn->payload_in_one_chunk(s.offset, s.len) : nullptr;
      count(c && !extra_refs.contains(c->owner) ? net::Counter::tcp_tx_zero_copy : net::Counter::tcp_tx_copied, 1);
    }
    Wire w;
    w.src_ip = s.src.ip;
    w.dst_ip = s.dst.ip;
    w.bytes.resize(wire::tcp::kMaxHeaderLen + s.len);
    const size_t hl = wire::tcp::write_header(w.bytes.data(), s.h, s.opt);
    if (s.len) s.conn->copy_payload(s.offset, s.len, w.bytes.data() + hl);
    w.bytes.resize(hl + s.len);
    const uint32_t pseudo = wire::tcp::pseudo_header_sum(s.src.ip, s.dst.ip, 6, uint16_t(w.bytes.size()));
    wire::store16(w.bytes.data(), wire::tcp::kChecksum,
                  uint16_t(~wire::ones_complement_sum(w.bytes.data(), w.bytes.size(), pseudo)));
    out(std::move(w));
    return true;
  }
  Chunk alloc() override {
    if (fail_alloc) return {};
    auto* b = new std::vector<uint8_t>(2048);
    ++ledger_.live;
    return {b, b->data(), 0, uint32_t(b->size())};
  }
  void retain(void* owner) override { ++extra_refs[owner]; }
  void release(void* owner) override {
    if (!owner) return;
    if (auto it = extra_refs.find(owner); it != extra_refs.end()) {
      if (--it->second == 0) extra_refs.erase(it);
      return;
    }
    delete static_cast<std::vector<uint8_t>*>(owner);
    --ledger_.live;
  }
  Endpoint route(uint32_t, uint16_t* mss) override {
    *mss = mss_;
    return {ip_, 0};
  }
  // The workers' registry and picker (one worker: every port steers here), with port_filter as
  // the RSS stand-in.
  uint16_t take_local_port(uint32_t l, tcp::Endpoint r, const std::function<bool(uint16_t)>& usable) override {
    return ports.take_for_connection(6, net::to_be(l), net::to_be(r.ip), net::to_be(r.port), ephemeral, [&](uint16_t p) {
      return (!port_filter || port_filter(l, p, r.ip, r.port)) && usable(p);
    }).port;
  }
  void release_local_port(uint32_t l, uint16_t p) override { ports.release_connection_port(6, net::to_be(l), p); }
  void count(net::Counter c, uint64_t n) override { counters[c] += n; }
  uint64_t get(net::Counter c) const {
    auto it = counters.find(c);
    return it == counters.end() ? 0 : it->second;
  }

  // Turns bytes that arrived into a chunk the host may keep (the buffer is the owner).
  Chunk receive(const std::vector<uint8_t>& bytes, size_t off) {
    auto* b = new std::vector<uint8_t>(bytes.size() + 512);  // room behind, as an mbuf has
    std::copy(bytes.begin(), bytes.end(), b->begin());
    ++ledger_.live;
    return {b, b->data() + off, uint32_t(bytes.size() - off), 512};
  }

 private:
  BufferLedger& ledger_;
  uint32_t ip_;
  uint16_t mss_;
};

class MapIndex final : public tcp::ConnIndex {
 public:
  tcp::Connection* find(const net::FiveTuple& k) const override {
    auto it = m_.find(key(k));
    return it == m_.end() ? nullptr : it->second;
  }
  bool add(const net::FiveTuple& k, tcp::Connection* c) override { return m_.emplace(key(k), c).second; }
  void remove(const net::FiveTuple& k) override { m_.erase(key(k)); }
  size_t size() const { return m_.size(); }

 private:
  static std::string key(const net::FiveTuple& k) { return std::string(reinterpret_cast<const char*>(&k), sizeof k); }
  std::unordered_map<std::string, tcp::Connection*> m_;
};

// One side of the link: a host with its wheel, env and index.
struct Side {
  Side(BufferLedger& ledger, uint32_t ip, uint16_t mss, const tcp::Settings& s, uint64_t tps, uint64_t seed)
      : env(ledger, ip, mss), wheel(0) {
    env.ephemeral = {s.ephemeral_low, s.ephemeral_high};
    const uint64_t key[2] = {seed * 0x9e3779b97f4a7c15ull + 1, seed ^ 0x1234567};
    host = std::make_unique<tcp::Host>(env, index, wheel, tps, s, key);
  }
  TestEnv env;
  MapIndex index;
  timer::Wheel wheel;
  std::unique_ptr<tcp::Host> host;
};

constexpr uint32_t kIpA = 0x0a000001;  // 10.0.0.1
constexpr uint32_t kIpB = 0x0a000002;  // 10.0.0.2

// The link: A <-> B. Time in ticks of 100 µs.
class Link {
 public:
  static constexpr uint64_t kTicksPerSecond = 10'000;

  explicit Link(const tcp::Settings& sa = {}, const tcp::Settings& sb = {}, uint16_t mss = 1460, uint64_t seed = 1)
      : a(ledger, kIpA, mss, sa, kTicksPerSecond, seed), b(ledger, kIpB, mss, sb, kTicksPerSecond, seed + 7), rng_(seed) {
    a.env.out = [this](Wire&& w) { enqueue(std::move(w), true); };
    b.env.out = [this](Wire&& w) { enqueue(std::move(w), false); };
  }
  ~Link() { EXPECT_TRUE(queue_.empty() || true); }

  BufferLedger ledger;
  Side a, b;
  Impairment imp;
  // A rule deciding a segment's fate before the random impairment: return true to drop it.
  std::function<bool(const Seen&, bool from_a)> drop_rule;
  // Every segment that entered the link, in order (for assertions about the wire).
  std::vector<std::pair<bool, Seen>> log;
  uint64_t now = 0;

  Side& side(bool is_a) { return is_a ? a : b; }

  // Advances one tick: delivers what is due, fires timers, polls both hosts.
  void tick() {
    ++now;
    deliver_due();
    for (Side* s : {&a, &b}) {
      s->host->set_now(now);
      s->wheel.advance(now, 1'000'000);
      s->host->poll();
    }
  }
  void run_ticks(uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) tick();
  }
  // Ticks until `done` or `limit` ticks passed; returns whether done.
  bool run_until(const std::function<bool()>& done, uint64_t limit = 100'000) {
    for (uint64_t i = 0; i < limit; ++i) {
      if (done()) return true;
      tick();
    }
    return done();
  }
  size_t in_flight() const { return queue_.size(); }

  // Injects raw bytes as if they arrived at `to_a` (a crafted segment).
  void inject(bool to_a, const Wire& w) { deliver(to_a, w); }

 private:
  void enqueue(Wire&& w, bool from_a) {
    Seen s = parse_wire(w);
    s.at = now;
    log.push_back({from_a, s});
    if (drop_rule && drop_rule(s, from_a)) return;
    std::uniform_real_distribution<double> u(0, 1);
    if (imp.loss > 0 && u(rng_) < imp.loss) return;
    w.deliver_at = now + imp.delay_ticks;
    if (imp.reorder > 0 && u(rng_) < imp.reorder) w.deliver_at += imp.reorder_extra_ticks;
    w.order = seq_++;
    const bool dup = imp.dup > 0 && u(rng_) < imp.dup;
    if (dup) {
      Wire copy = w;
      copy.order = seq_++;
      queue_.push_back({!from_a, std::move(copy)});
    }
    queue_.push_back({!from_a, std::move(w)});
  }
  void deliver_due() {
    std::vector<std::pair<bool, Wire>> due;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->second.deliver_at <= now) {
        due.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    std::stable_sort(due.begin(), due.end(), [](const auto& x, const auto& y) {
      return x.second.deliver_at != y.second.deliver_at ? x.second.deliver_at < y.second.deliver_at : x.second.order < y.second.order;
    });
    for (auto& [to_a, w] : due) deliver(to_a, w);
  }
  void deliver(bool to_a, const Wire& w) {
    Side& s = side(to_a);
    s.host->set_now(now);
    const uint32_t pseudo = wire::tcp::pseudo_header_sum(w.src_ip, w.dst_ip, 6, uint16_t(w.bytes.size()));
    EXPECT_EQ(wire::ones_complement_sum(w.bytes.data(), w.bytes.size(), pseudo), 0xffff) << "bad TCP checksum on the link";
    const Seen seen = parse_wire(w);
    const size_t hl = wire::tcp::header_len(w.bytes.data());
    Chunk c = s.env.receive(w.bytes, hl);
    const bool kept = s.host->input({w.src_ip, seen.h.src_port}, {w.dst_ip, seen.h.dst_port}, seen.h, seen.opt, c);
    if (!kept) s.env.release(c.owner);
  }

  std::deque<std::pair<bool, Wire>> queue_;  // (to_a, frame)
  std::mt19937_64 rng_;
  uint64_t seq_ = 0;
};

// An application for tests: records what happened, optionally echoes, sends, consumes.
class App : public tcp::Handler, public tcp::Listener {
 public:
  std::string received;
  bool connected = false, peer_closed = false, closed = false;
  tcp::Error error = tcp::Error::kNone;
  int writable_events = 0, accepted = 0;
  bool echo = false;            // send back what arrives
  bool echo_in_place = false;   // send back what arrives in its own buffers (send_received)
  bool consume = true;          // take what arrives (false: leave it, the window closes)
  bool close_on_peer_close = false;
  tcp::Connection* conn = nullptr;
  std::string to_send;          // pushed as the send buffer has room
  size_t sent = 0;
  bool shutdown_after_send = false;

  tcp::Handler* on_accept(tcp::Connection& c) override {
    ++accepted;
    conn = &c;
    return this;
  }
  void on_connected(tcp::Connection& c) override {
    connected = true;
    conn = &c;
    pump(c);
  }
  void on_data(tcp::Connection& c) override {
    if (!consume) return;
    std::string got;
    c.read([&](std::span<const uint8_t> s) {
      got.append(reinterpret_cast<const char*>(s.data()), s.size());
      return true;
    });
    if (echo_in_place) {
      got.resize(c.send_received(c, got.size()));  // what it moved, it consumed
      received += got;
      maybe_close(c);
      return;
    }
    if (echo) {
      const size_t n = c.send(got.data(), got.size());
      got.resize(n);  // take only what was echoed: the rest waits for on_writable
    }
    c.consume(got.size());
    received += got;
    maybe_close(c);
  }
  void on_writable(tcp::Connection& c) override {
    ++writable_events;
    if (echo || echo_in_place) on_data(c);
    pump(c);
  }
  void on_peer_closed(tcp::Connection& c) override {
    peer_closed = true;
    maybe_close(c);
  }
  // Closes once the peer has and everything it sent was taken (an echo closes after echoing).
  void maybe_close(tcp::Connection& c) {
    if (peer_closed && close_on_peer_close && c.readable() == 0 && c.state() == tcp::State::kCloseWait) c.close();
  }
  void on_closed(tcp::Connection&, tcp::Error e) override {
    closed = true;
    error = e;
    conn = nullptr;
  }
  void pump(tcp::Connection& c) {
    while (sent < to_send.size()) {
      const size_t n = c.send(to_send.data() + sent, to_send.size() - sent);
      if (n == 0) break;
      sent += n;
    }
    if (shutdown_after_send && sent == to_send.size()) c.shutdown();
  }
};

// Byte streams compared with a readable failure: sizes and the first difference.
inline ::testing::AssertionResult same(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure() << "got " << got.size() << " bytes, want " << want.size() << ", first difference at "
                                       << i;
}

inline std::string pattern(size_t n, uint32_t seed = 7) {
  std::string s(n, '\0');
  std::mt19937 r(seed);
  for (auto& ch : s) ch = char(r());
  return s;
}

}  // namespace redline::testing
