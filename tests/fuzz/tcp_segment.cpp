// Fuzz target: the pure TCP engine (stack/tcp/host.hpp) against a peer that sends whatever the
// input says, with the application, the clock and the Env's buffers also driven by the input.
//
// Why a scripted peer rather than a second redline host (tests/unit/tcp_link.hpp): a second
// host only sends what a correct TCP sends. Here every segment is built from input bytes: any
// flags, a sequence and acknowledgement number exact, a little off, or anywhere, any window, raw
// option bytes or well-formed ones, any payload length. The peer keeps just enough state (what
// it has sent, what the host has sent it) to make "exact" mean something, so the fuzzer reaches
// the synchronized states instead of being reset at the door.
//
// Input:
//   byte 0       the state to bring one connection to first: LISTEN, SYN-SENT, SYN-RECEIVED,
//                ESTABLISHED (passive or active), FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, LAST-ACK,
//                CLOSING, TIME-WAIT
//   bytes 1-4    settings (SACK, timestamps, window scaling, SYN cookies, zero-copy send,
//                congestion control, small buffers and tables) and the peer's SYN options
//   then steps   each an opcode and its fields: a segment from one of three peers, the clock
//                moving (a tick to hours), the application sending, reading, shutting down,
//                closing, aborting, connecting; an ICMP error; the Env failing sends or
//                allocations; a listener going away and coming back
// Asserted after every step and on every segment the host sends:
//  - a segment's payload is at most the connection's send MSS and at most the MSS of the route
//    the Env gave (MTU 1500 - 40), and the whole frame (IPv4 20 + TCP 20 + options + payload)
//    is at most that MTU; options fit the 40 bytes a header has (RFC 9293 §3.1) and read back
//    as written;
//  - copy_payload writes exactly the segment's length (its destination is a heap buffer of
//    that size) from bytes the send queue holds;
//  - the buffers alive (the ledger of Env allocations and received segments) are bounded by
//    what the connections hold: each live buffer carries at least one byte of a receive, send
//    or out-of-order queue; the host's connection count stays within max_connections;
//  - after the host is destroyed no buffer is alive and no extra reference is left;
//  - no crash, no sanitizer report, no failed assert in the engine or the timer wheel.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "stack/endpoint/local_ports.hpp"
#include "stack/tcp/host.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/tcp.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace redline;
using tcp::Chunk;
using tcp::Connection;
using tcp::Endpoint;
namespace f = wire::tcp;

namespace {

constexpr uint32_t kHostIp = 0x0a000002;  // 10.0.0.2: the host under test
constexpr uint16_t kListenPort = 80;
constexpr uint32_t kMtu = 1500;
constexpr uint16_t kRouteMss = uint16_t(kMtu - 20 - 20);  // RFC 9293 §3.7.1: MTU less both fixed headers
constexpr uint64_t kTicksPerSecond = 10'000;               // 100 µs, as the unit tests' link
constexpr size_t kMaxSteps = 400;

// REDLINE_FUZZ_VERBOSE=1 prints every step, every segment and the connections after each step:
// how to read what a crashing input did (run the target with the input file as its argument).
bool verbose() {
  static const bool on = std::getenv("REDLINE_FUZZ_VERBOSE") != nullptr;
  return on;
}

// A packet buffer: an rte_mbuf's stand-in, heap memory of exactly its size so ASan sees a byte
// read or written past it.
struct Buffer {
  std::vector<uint8_t> bytes;
};

// What the host sent to one of the peers, as the peer reads it.
struct Sent {
  Endpoint src, dst;
  f::Header h;
  f::Options opt;
  uint32_t len = 0;
};

class FuzzEnv final : public tcp::Env {
 public:
  int64_t live = 0;                 // buffers allocated or received, not yet released
  std::map<void*, int> extra_refs;  // references beyond a buffer's first
  std::vector<Sent> sent;           // since the peers last read it
  bool fail_sends = false, fail_alloc = false, no_route = false, odd_ports_only = false;

  bool send(const tcp::SegmentOut& s) override {
    if (fail_sends) return false;
    const size_t opt_len = f::options_len(s.opt);
    if (verbose())
      std::fprintf(stderr, "  host sends %u->%u flags %02x seq %u ack %u win %u len %u opts %zu\n", s.h.src_port,
                   s.h.dst_port, s.h.flags, s.h.seq, s.h.ack, s.h.window, s.len, opt_len);
    FUZZ_CHECK(opt_len <= f::kMaxOptionsLen);
    FUZZ_CHECK(f::kMinHeaderLen + opt_len + s.len + 20 <= kMtu);  // the frame fits the MTU
    if (s.len) {
      FUZZ_CHECK(s.conn != nullptr);
      FUZZ_CHECK(s.len <= s.conn->mss());  // no more than the send MSS
      FUZZ_CHECK(s.conn->mss() <= kRouteMss);
      // The payload, copied as MbufEnv copies it, into exactly its length.
      std::vector<uint8_t> payload(s.len);
      s.conn->copy_payload(s.offset, s.len, payload.data());
      if (const Chunk* c = s.conn->payload_in_one_chunk(s.offset, s.len)) {
        FUZZ_CHECK(c->len >= s.len);
        FUZZ_CHECK(std::memcmp(c->data, payload.data(), s.len) == 0);
      }
    }
    // The header as it goes on the wire, and read back.
    std::vector<uint8_t> header(f::kMinHeaderLen + opt_len);
    const size_t hl = f::write_header(header.data(), s.h, s.opt);
    FUZZ_CHECK(hl == header.size());
    FUZZ_CHECK(fuzz::same_options(f::parse_options(header.data() + f::kMinHeaderLen, opt_len), s.opt));
    check_fin(s);
    check_ack(s);
    sent.push_back({s.src, s.dst, s.h, s.opt, s.len});
    return true;
  }
  // RFC 9293 §3.4: a FIN takes the sequence number after the last byte of data, so every
  // transmission of a connection's FIN carries the same one (from its SYN or SYN-ACK on: a new
  // incarnation of the 4-tuple starts over).
  void check_fin(const tcp::SegmentOut& s) {
    const std::string key = std::string(reinterpret_cast<const char*>(&s.src), sizeof s.src) +
                            std::string(reinterpret_cast<const char*>(&s.dst), sizeof s.dst);
    if (s.h.flags & (f::kSyn | f::kRst)) {
      fin_at.erase(key);
      return;
    }
    if (!(s.h.flags & f::kFin)) return;
    const uint32_t at = s.h.seq + s.len;
    const auto [it, first] = fin_at.emplace(key, at);
    if (!first && it->second != at)
      std::fprintf(stderr, "FIN at %u after a FIN at %u on %u->%u\n", at, it->second, s.h.src_port, s.h.dst_port);
    FUZZ_CHECK(first || it->second == at);
  }
  // RFC 9293 §3.3.1: RCV.NXT only moves forward, so the acknowledgement numbers a connection
  // sends never go back (a SYN or RST ends the incarnation they belong to).
  void check_ack(const tcp::SegmentOut& s) {
    const std::string key = std::string(reinterpret_cast<const char*>(&s.src), sizeof s.src) +
                            std::string(reinterpret_cast<const char*>(&s.dst), sizeof s.dst);
    if (s.h.flags & (f::kSyn | f::kRst)) {
      acked.erase(key);
      if ((s.h.flags & (f::kSyn | f::kAck_)) == (f::kSyn | f::kAck_)) acked.emplace(key, s.h.ack);
      return;
    }
    if (!(s.h.flags & f::kAck_)) return;
    const auto [it, first] = acked.emplace(key, s.h.ack);
    if (first) return;
    if (net::TcpSeq(s.h.ack) < net::TcpSeq(it->second))
      std::fprintf(stderr, "ACK %u after an ACK %u on %u->%u\n", s.h.ack, it->second, s.h.src_port, s.h.dst_port);
    FUZZ_CHECK(net::TcpSeq(s.h.ack) >= net::TcpSeq(it->second));
    it->second = s.h.ack;
  }
  std::map<std::string, uint32_t> acked;  // the latest acknowledgement number per 4-tuple

  std::map<std::string, uint32_t> fin_at;  // the sequence number each 4-tuple's FIN took

  Chunk alloc() override {
    if (fail_alloc) return {};
    auto* b = new Buffer{std::vector<uint8_t>(2048)};
    ++live;
    return {b, b->bytes.data(), 0, uint32_t(b->bytes.size())};
  }
  void retain(void* owner) override { ++extra_refs[owner]; }
  void release(void* owner) override {
    if (!owner) return;
    if (auto it = extra_refs.find(owner); it != extra_refs.end()) {
      if (--it->second == 0) extra_refs.erase(it);
      return;
    }
    delete static_cast<Buffer*>(owner);
    --live;
  }
  Endpoint route(uint32_t, uint16_t* mss) override {
    if (no_route) return {};
    *mss = kRouteMss;
    return {kHostIp, 0};
  }
  // The workers' registry and picker; odd ports only stands in for RSS sending half the replies
  // elsewhere.
  uint16_t take_local_port(uint32_t l, tcp::Endpoint r, const std::function<bool(uint16_t)>& usable) override {
    const endpoint::PortRange ephemeral{tcp::Settings{}.ephemeral_low, tcp::Settings{}.ephemeral_high};
    return ports.take_for_connection(6, net::to_be(l), net::to_be(r.ip), net::to_be(r.port), ephemeral, [&](uint16_t p) {
      return (!odd_ports_only || (p & 1)) && usable(p);
    }).port;
  }
  void release_local_port(uint32_t l, uint16_t p) override { ports.release_connection_port(6, net::to_be(l), p); }
  endpoint::LocalPorts ports{{}, {}, {}};
  void count(net::Counter, uint64_t) override {}

  // A received segment's buffer: header and payload, and `room` bytes behind it (an mbuf's
  // tailroom, which the engine may append small later payloads into).
  Buffer* received(size_t size) {
    ++live;
    return new Buffer{std::vector<uint8_t>(size)};
  }
};

class MapIndex final : public tcp::ConnIndex {
 public:
  Connection* find(const net::FiveTuple& k) const override {
    auto it = m_.find(key(k));
    return it == m_.end() ? nullptr : it->second;
  }
  bool add(const net::FiveTuple& k, Connection* c) override { return m_.emplace(key(k), c).second; }
  void remove(const net::FiveTuple& k) override { m_.erase(key(k)); }

 private:
  static std::string key(const net::FiveTuple& k) { return std::string(reinterpret_cast<const char*>(&k), sizeof k); }
  std::unordered_map<std::string, Connection*> m_;
};

// The application: accepts, reads (all, some or nothing), echoes by copy or in place, sends,
// closes when the peer has; which of these the input decides.
class App final : public tcp::Handler, public tcp::Listener {
 public:
  std::vector<Connection*> conns;  // the connections it may still touch (until on_closed)
  uint8_t mode = 0;

  bool refuse() const { return mode & 1; }
  uint8_t consume_mode() const { return (mode >> 1) & 3; }  // 0 all, 1 none, 2 half, 3 echo in place
  bool echo() const { return mode & 8; }
  bool close_on_peer_close() const { return mode & 16; }

  tcp::Handler* on_accept(Connection& c) override {
    if (refuse()) return nullptr;
    add(c);
    return this;
  }
  void on_connected(Connection& c) override { add(c); }
  void on_data(Connection& c) override {
    switch (consume_mode()) {
      case 0: take(c, c.readable()); break;
      case 1: break;
      case 2: take(c, (c.readable() + 1) / 2); break;
      case 3: c.send_received(c, c.readable()); break;
    }
  }
  void on_writable(Connection& c) override {
    if (echo() && c.readable()) on_data(c);
  }
  void on_peer_closed(Connection& c) override {
    if (close_on_peer_close()) c.close();
  }
  void on_closed(Connection& c, tcp::Error) override { std::erase(conns, &c); }

 private:
  void add(Connection& c) {
    if (std::find(conns.begin(), conns.end(), &c) == conns.end()) conns.push_back(&c);
  }
  void take(Connection& c, size_t n) {
    std::vector<uint8_t> copy(n + 1);  // never empty: read_copy(nullptr, 0) would memcpy to null
    const size_t got = echo() ? [&] {
      size_t k = 0;
      c.read([&](std::span<const uint8_t> s) {
        const size_t m = std::min(s.size(), n - k);
        std::memcpy(copy.data() + k, s.data(), m);
        k += m;
        return k < n;
      });
      return k;
    }() : 0;
    if (echo()) {
      const size_t echoed = c.send(copy.data(), got);
      c.consume(echoed);
    } else {
      FUZZ_CHECK(c.read_copy(copy.data(), n) == n);
    }
  }
};

// One remote end, as much of it as "exact" sequence numbers need.
struct Peer {
  Endpoint self;        // the peer's address and port
  Endpoint host;        // the host's end of this connection
  uint32_t snd_nxt = 0; // the next sequence number the peer sends
  uint32_t rcv_nxt = 0; // the next the peer expects from the host (what it acknowledges)
  uint32_t last_ack = 0; // the acknowledgement number of the peer's latest segment
  uint32_t ts_val = 1000, ts_recent = 0;
  bool heard = false;   // the host's SYN or SYN-ACK has been seen
};

struct Rig {
  tcp::Settings settings;
  FuzzEnv env;
  MapIndex index;
  timer::Wheel wheel{0};
  App app;
  std::unique_ptr<tcp::Host> host;
  Peer peers[3];
  f::Options syn_options;          // what the peer's SYN and SYN-ACK carry
  uint64_t now = 0;
  std::vector<Connection*> seen;   // every connection ever handed out: a stale lookup result

  Rig() {
    peers[0].self = {0x0a000063, 40000};  // 10.0.0.99
    peers[0].host = {kHostIp, kListenPort};
    peers[1].self = {0x0a000063, 40001};
    peers[1].host = {kHostIp, kListenPort};
    peers[2].self = {0x0a000064, 5001};   // 10.0.0.100: the one the host connects to
    peers[2].host = {kHostIp, 0};         // learnt from the host's SYN
  }
  ~Rig() {
    // The host first: its connections release their buffers through the Env and cancel their
    // timers on the wheel, both still alive.
    host.reset();
    FUZZ_CHECK(env.live == 0);
    FUZZ_CHECK(env.extra_refs.empty());
  }

  void start(const uint64_t isn_key[2]) {
    host = std::make_unique<tcp::Host>(env, index, wheel, kTicksPerSecond, settings, isn_key);
  }

  // The peers learn what the host sent them: where its stream is, the timestamp to echo, and
  // the host's port for an active open.
  void deliver_to_peers() {
    for (const Sent& s : env.sent) {
      for (Peer& p : peers) {
        if (s.dst != p.self) continue;
        if (p.host.port == 0 && (s.h.flags & f::kSyn)) p.host = s.src;
        if (s.src != p.host) continue;
        const uint32_t end = s.h.seq + s.len + ((s.h.flags & f::kSyn) ? 1 : 0) + ((s.h.flags & f::kFin) ? 1 : 0);
        if (s.h.flags & f::kSyn) {
          p.rcv_nxt = end;
          p.heard = true;
        } else if (p.heard && net::TcpSeq(end) > net::TcpSeq(p.rcv_nxt)) {
          p.rcv_nxt = end;
        }
        if (s.opt.has_timestamps) p.ts_recent = s.opt.ts_val;
      }
    }
    env.sent.clear();
  }

  // Builds a segment's bytes as a peer's NIC would hand them over, checks it as tcp_stage.cpp
  // does (length, data offset, checksum), and gives it to the host.
  void inject(const Peer& p, Endpoint dst, const f::Header& h, const std::vector<uint8_t>& options,
              uint32_t payload_len, uint32_t room, Connection* hint) {
    const size_t hl = f::kMinHeaderLen + options.size();
    Buffer* b = env.received(hl + payload_len + room);
    uint8_t* seg = b->bytes.data();
    f::write_header(seg, h, {});
    wire::store8(seg, f::kDataOffset, uint8_t((hl / 4) << 4));
    if (!options.empty()) std::memcpy(seg + f::kMinHeaderLen, options.data(), options.size());
    for (uint32_t i = 0; i < payload_len; ++i) seg[hl + i] = uint8_t(h.seq + i);
    const uint32_t l4_len = uint32_t(hl + payload_len);
    const uint32_t pseudo = f::pseudo_header_sum(p.self.ip, dst.ip, 6, uint16_t(l4_len));
    wire::store16(seg, f::kChecksum, uint16_t(~wire::ones_complement_sum(seg, l4_len, pseudo)));
    // tcp_stage.cpp: a header shorter than 20 or longer than the segment is dropped, then the
    // checksum; then the header and options are read.
    FUZZ_CHECK(f::header_len(seg) == hl && hl <= l4_len);
    FUZZ_CHECK(wire::ones_complement_sum(seg, l4_len, pseudo) == 0xffff);
    const f::Header read = f::read_header(seg);
    const f::Options opt = hl > f::kMinHeaderLen ? f::parse_options(seg + f::kMinHeaderLen, hl - f::kMinHeaderLen) : f::Options{};
    const Chunk chunk{b, seg + hl, payload_len, room};
    if (verbose())
      std::fprintf(stderr, "  peer sends %u->%u flags %02x seq %u ack %u win %u len %u opts %zu\n", h.src_port, h.dst_port,
                   h.flags, h.seq, h.ack, h.window, payload_len, options.size());
    host->set_now(now);
    const bool kept = host->input(hint, p.self, dst, read, opt, chunk);
    if (!kept) env.release(b);
  }

  void advance(uint64_t ticks) {
    now += ticks;
    host->set_now(now);
    wheel.advance(now, 1'000'000);
    host->poll();
  }

  void note_connections() {
    host->for_each([&](const Connection& c) {
      Connection* m = const_cast<Connection*>(&c);
      if (std::find(seen.begin(), seen.end(), m) == seen.end()) seen.push_back(m);
    });
  }

  void dump() {
    host->for_each([&](const Connection& c) {
      std::fprintf(stderr,
                   "  conn %u->%u %s mss %u snd_una %u snd_nxt %u rcv_nxt %u readable %zu queued %u ooo %u cwnd %u%s\n",
                   c.local().port, c.remote().port, tcp::state_name(c.state()), c.mss(), c.snd_una().value(),
                   c.snd_nxt().value(), c.rcv_nxt().value(), c.readable(), c.send_queued(), c.ooo_segments(), c.cwnd(),
                   c.in_recovery() ? " recovery" : "");
    });
    std::fprintf(stderr, "  buffers live %lld, now %llu\n", (long long)env.live, (unsigned long long)now);
  }

  // The invariants that hold between steps.
  void check() {
    FUZZ_CHECK(env.live >= 0);
    uint64_t held = 0;
    uint32_t n = 0;
    host->for_each([&](const Connection& c) {
      held += c.readable() + c.send_queued() + c.ooo_segments();
      ++n;
    });
    FUZZ_CHECK(uint64_t(env.live) <= held);
    const tcp::HostStats st = host->stats();
    FUZZ_CHECK(st.connections == n && n <= settings.max_connections);
    FUZZ_CHECK(st.time_wait <= settings.time_wait_max);
  }
};

// Options as the peer's SYN (or SYN-ACK) sends them.
f::Options syn_options_from(uint8_t bits, uint8_t mss_byte) {
  f::Options o;
  if (bits & 1) o.mss = uint16_t(mss_byte) * 8;  // 0 and tiny values included: the MSS floor
  if (bits & 2) o.window_shift = uint8_t(bits >> 4);  // 0-15: above 14 reads as 14
  o.sack_permitted = bits & 4;
  if (bits & 8) {
    o.has_timestamps = true;
    o.ts_val = 1000;
  }
  return o;
}

std::vector<uint8_t> encode(const f::Options& o) {
  std::vector<uint8_t> out(f::options_len(o));
  f::write_options(out.data(), o);
  return out;
}

// A segment from peer `p` exactly in sequence: the next the host expects.
void peer_send(Rig& r, Peer& p, uint8_t flags, uint32_t payload_len, bool with_syn_options = false) {
  f::Options o;
  if (with_syn_options) o = r.syn_options;
  if (r.syn_options.has_timestamps) {
    o.has_timestamps = true;
    o.ts_val = ++p.ts_val;
    o.ts_ecr = p.ts_recent;
  }
  const f::Header h{p.self.port, p.host.port, p.snd_nxt, (flags & f::kAck_) ? p.rcv_nxt : 0, flags, 65535};
  r.inject(p, p.host, h, encode(o), payload_len, 0, nullptr);
  if (flags & f::kAck_) p.last_ack = p.rcv_nxt;
  p.snd_nxt += payload_len + ((flags & f::kSyn) ? 1 : 0) + ((flags & f::kFin) ? 1 : 0);
  r.host->poll();
  r.deliver_to_peers();
}

Connection* first_conn(Rig& r) { return r.app.conns.empty() ? nullptr : r.app.conns.front(); }

// Brings one connection to the state byte 0 names. A step that does not get there (the
// settings refused it) leaves the rig wherever it got: every state is a valid start.
void bring_up(Rig& r, uint8_t state) {
  Peer& passive = r.peers[0];
  Peer& active = r.peers[2];
  passive.snd_nxt = 0x10000000u * (state & 0xf) + 77;
  active.snd_nxt = 0xfffff000u + state;  // near the wrap
  r.host->listen(kListenPort, r.app, {}, r.settings.syn_backlog);
  const uint8_t which = state % 11;
  if (which == 0) return;  // LISTEN
  bool established = false;
  if (which == 1 || which == 4) {  // SYN-SENT; ESTABLISHED by an active open
    r.host->connect(active.self, r.app);
    r.host->poll();
    r.deliver_to_peers();
    if (which == 1) return;
    if (!active.heard) return;
    peer_send(r, active, f::kSyn | f::kAck_, 0, true);
    established = first_conn(r) && first_conn(r)->state() == tcp::State::kEstablished;
  } else {  // SYN-RECEIVED, or ESTABLISHED by a passive open and on from there
    peer_send(r, passive, f::kSyn, 0, true);
    if (which == 2) return;
    if (!passive.heard) return;
    peer_send(r, passive, f::kAck_, 0);
    established = first_conn(r) && first_conn(r)->state() == tcp::State::kEstablished;
  }
  if (!established || which <= 4) return;
  Connection* c = first_conn(r);
  Peer& p = which == 4 ? active : passive;
  switch (which) {
    case 5:  // FIN-WAIT-1
      c->shutdown();
      break;
    case 6:  // FIN-WAIT-2
      c->shutdown();
      r.host->poll();
      r.deliver_to_peers();
      peer_send(r, p, f::kAck_, 0);
      break;
    case 7:  // CLOSE-WAIT
      peer_send(r, p, f::kFin | f::kAck_, 0);
      break;
    case 8:  // LAST-ACK
      peer_send(r, p, f::kFin | f::kAck_, 0);
      if (first_conn(r)) first_conn(r)->close();
      break;
    case 9:  // CLOSING: both FINs cross
      c->shutdown();
      r.host->poll();
      r.env.sent.clear();  // the peer has not seen the host's FIN
      peer_send(r, p, f::kFin | f::kAck_, 0);
      break;
    case 10:  // TIME-WAIT
      c->shutdown();
      r.host->poll();
      r.deliver_to_peers();
      peer_send(r, p, f::kAck_, 0);
      peer_send(r, p, f::kFin | f::kAck_, 0);
      break;
  }
  r.host->poll();
  r.deliver_to_peers();
}

// A sequence number near `base` (exact, a little off either way) or anywhere.
uint32_t near(fuzz::Input& in, uint32_t base) {
  const uint8_t how = in.u8();
  switch (how & 3) {
    case 0: return base;
    case 1: return base + uint32_t(int8_t(in.u8()));
    case 2: return base + uint32_t(int32_t(int16_t(in.u16())) * 16);
    default: return in.u32();
  }
}

// An acknowledgement number: the peer's last one again (a duplicate ACK, RFC 5681 §2), a little
// off what the host sent, older (a window below), or anywhere.
uint32_t ack_near(fuzz::Input& in, const Peer& p) {
  const uint8_t how = in.u8();
  switch (how & 3) {
    case 0: return p.last_ack;
    case 1: return p.rcv_nxt + uint32_t(int8_t(in.u8()));
    case 2: return p.rcv_nxt - in.u16();
    default: return in.u32();
  }
}

// Option bytes for a segment: none, well formed (timestamps, SACK blocks near the host's
// stream), or raw input bytes padded to a word.
std::vector<uint8_t> segment_options(fuzz::Input& in, Peer& p, uint8_t flags) {
  const uint8_t kind = in.u8();
  switch (kind & 3) {
    case 0: return {};
    case 1: {
      f::Options o;
      if (flags & f::kSyn) o = syn_options_from(in.u8(), in.u8());
      if (kind & 4) {
        o.has_timestamps = true;
        o.ts_val = (kind & 8) ? in.u32() : ++p.ts_val;
        o.ts_ecr = p.ts_recent;
      }
      const uint8_t blocks = (kind >> 4) % 5;
      for (uint8_t k = 0; k < blocks; ++k) {
        // Blocks above the peer's last ACK and within what the host sent, mostly: the SACK
        // scoreboard and RFC 6675 recovery need blocks that make sense.
        const uint32_t sent = p.rcv_nxt - p.last_ack;
        const uint32_t span = sent == 0 || sent > (1u << 20) ? 65536 : sent;
        const uint32_t left = p.last_ack + in.u16() % span;
        o.sack[k] = {left, left + 1 + in.u16() % span};
        o.sack_count = uint8_t(k + 1);
      }
      while (o.sack_count && f::options_len(o) > f::kMaxOptionsLen) o.sack[--o.sack_count] = {};
      return encode(o);
    }
    default: {
      std::vector<uint8_t> raw = in.bytes(in.u8() % (f::kMaxOptionsLen + 1));
      raw.resize((raw.size() + 3) & ~size_t(3), f::kOptEnd);
      return raw;
    }
  }
}

enum Op : uint8_t {
  kSegment,       // weighted: several opcodes map here
  kTick,
  kWait,
  kAppSend,
  kAppRead,
  kAppShutdown,
  kAppClose,
  kAppAbort,
  kAppOptions,
  kConnect,
  kIcmp,
  kEnvFaults,
  kRelisten,
  kOps
};

void step(Rig& r, fuzz::Input& in) {
  const uint8_t code = in.u8();
  const Op op = code < 96 ? kSegment : Op(1 + (code - 96) % (kOps - 1));
  // The connection an application step acts on (the byte is read by those steps whether or not
  // there is one, so a seed's layout does not depend on how its earlier steps went).
  Connection* c = nullptr;
  if (op >= kAppSend && op <= kAppOptions) {
    const uint8_t pick = in.u8();
    if (!r.app.conns.empty()) c = r.app.conns[pick % r.app.conns.size()];
  }
  if (verbose()) {
    static const char* const names[] = {"segment", "tick", "wait", "app send", "app read", "app shutdown", "app close",
                                        "app abort", "app options", "connect", "icmp", "env faults", "relisten"};
    std::fprintf(stderr, "step %s (code %u)\n", names[op], code);
  }
  switch (op) {
    case kSegment: {
      Peer& p = r.peers[code % 3];
      const uint8_t flags = in.u8();
      const uint8_t mode = in.u8();
      const uint32_t seq = (mode & 1) ? near(in, p.snd_nxt) : p.snd_nxt;
      const uint32_t ack = (mode & 2) ? ack_near(in, p) : p.rcv_nxt;
      const uint16_t window = (mode & 4) ? in.u16() : 65535;
      const std::vector<uint8_t> options = segment_options(in, p, flags);
      uint32_t payload = 0;
      switch ((mode >> 3) & 3) {
        case 0: break;
        case 1: payload = in.u8(); break;
        case 2: payload = in.u16() % (kRouteMss + 1); break;
        case 3: payload = in.u16() % 9001; break;  // a jumbo port, or a peer ignoring our MSS
      }
      const uint32_t room = (mode & 0x20) ? 0 : 512;
      // To another port now and then: no listener, an RST; or a stale connection hint, as the
      // stage's bulk lookup can hand one over (host.cpp looks again).
      Endpoint dst = p.host;
      if (mode & 0x40) dst.port = uint16_t(dst.port + 1 + in.u8());
      Connection* hint = (mode & 0x80) && !r.seen.empty() ? r.seen[in.u8() % r.seen.size()] : nullptr;
      const f::Header h{p.self.port, dst.port, seq, ack, flags, window};
      r.inject(p, dst, h, options, payload, room, hint);
      if (flags & f::kAck_) p.last_ack = ack;
      if (seq == p.snd_nxt && dst == p.host)
        p.snd_nxt += payload + ((flags & f::kSyn) ? 1 : 0) + ((flags & f::kFin) ? 1 : 0);
      break;
    }
    case kTick:
      r.advance(1 + in.u8());
      break;
    case kWait: {
      // Up to ~18 hours: RTO backoff, the FIN-WAIT-2 and TIME-WAIT timers, keepalive.
      const uint8_t scale = in.u8() % 3;
      const uint64_t unit = scale == 0 ? kTicksPerSecond / 10 : scale == 1 ? kTicksPerSecond : kTicksPerSecond * 60;
      r.advance(unit * (1 + in.u8()));
      break;
    }
    case kAppSend: {
      if (!c) break;
      const uint32_t n = 1 + in.u16();
      std::vector<uint8_t> data(n);
      for (uint32_t i = 0; i < n; ++i) data[i] = uint8_t(i * 7);
      if (in.flag()) {
        c->send(data.data(), data.size());
      } else {
        // The application's own buffer, queued without a copy.
        Chunk ch = r.env.alloc();
        if (!ch.owner) break;
        ch.len = std::min<uint32_t>(n, ch.room);
        std::memcpy(ch.data, data.data(), ch.len);
        ch.room -= ch.len;
        if (!c->send_chunk(ch)) r.env.release(ch.owner);
      }
      break;
    }
    case kAppRead:
      if (!c) break;
      if (in.flag()) {
        c->consume(in.u16());
      } else {
        const size_t max = in.u16();
        std::vector<uint8_t> out(max + 1);  // a real buffer even for max 0
        const size_t got = c->read_copy(out.data(), max);
        FUZZ_CHECK(got <= max);
      }
      break;
    case kAppShutdown:
      if (c) c->shutdown();
      break;
    case kAppClose:
      if (c) c->close();
      break;
    case kAppAbort:
      if (c) c->abort();
      break;
    case kAppOptions: {
      const uint8_t bits = in.u8();
      r.app.mode = bits;
      if (c) {
        c->set_nodelay(bits & 0x20);
        c->set_keepalive({bool(bits & 0x40), 1 + in.u8() * 30u, 1 + in.u8() % 10u, 1 + in.u8() % 5u});
      }
      break;
    }
    case kConnect: {
      Peer& p = r.peers[2];
      if (r.host->connect(p.self, r.app, {bool(in.u8() & 1), {}, 0, 0})) {
        p.host.port = 0;  // the peer follows the newest connection
        p.heard = false;
      }
      break;
    }
    case kIcmp: {
      Peer& p = r.peers[in.u8() % 3];
      const uint8_t type = in.flag() ? 3 : in.u8();
      const uint8_t icmp_code = in.u8() % 16;
      const uint32_t back = in.u8();
      const uint32_t seq = near(in, p.rcv_nxt - back);
      const uint16_t mtu = in.u16();
      r.host->set_now(r.now);
      r.host->icmp_error(p.host, p.self, seq, type, icmp_code, mtu);
      break;
    }
    case kEnvFaults: {
      const uint8_t bits = in.u8();
      r.env.fail_sends = bits & 1;
      r.env.fail_alloc = bits & 2;
      r.env.no_route = bits & 4;
      r.env.odd_ports_only = bits & 8;
      break;
    }
    case kRelisten:
      if (r.host->listening(kListenPort)) r.host->unlisten(kListenPort);
      else r.host->listen(kListenPort, r.app, {bool(in.u8() & 1), {}, 0, 0}, 1 + in.u8() % 4);
      break;
    case kOps:
      break;
  }
  r.host->poll();
  r.deliver_to_peers();
  r.note_connections();
  r.check();
  if (verbose()) r.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t state = in.u8();
  const uint8_t s1 = in.u8(), s2 = in.u8(), syn_bits = in.u8(), mss_byte = in.u8();
  Rig r;
  tcp::Settings& s = r.settings;
  s.sack = !(s1 & 1);
  s.timestamps = !(s1 & 2);
  s.window_scaling = !(s1 & 4);
  s.syn_cookies = !(s1 & 8);
  s.zero_copy_send = !(s1 & 16);
  s.congestion = (s1 & 32) ? tcp::Congestion::kCubic : tcp::Congestion::kNewReno;
  s.tail_loss_probe = !(s1 & 64);
  s.max_connections = 1 + (s2 & 7);
  s.time_wait_max = 1 + ((s2 >> 3) & 3);
  s.syn_backlog = 1 + ((s2 >> 5) & 3);
  s.ooo_max_segments = (s1 & 128) ? 4 : 64;
  s.recv_buffer = (s2 & 0x80) ? 4096 : 64 * 1024;
  s.send_buffer = (s2 & 0x40) ? 4096 : 64 * 1024;
  s.max_segments_per_call = 16;
  r.syn_options = syn_options_from(syn_bits, mss_byte ? mss_byte : 182);  // 182 * 8 = 1456
  const uint64_t key[2] = {0x0123456789abcdefull, 0xfedcba9876543210ull};
  r.start(key);
  r.app.mode = uint8_t(syn_bits & 0x1e);  // never refuse during bring-up
  bring_up(r, state);
  r.note_connections();
  r.check();
  if (verbose()) {
    std::fprintf(stderr, "brought up for state byte %u\n", state);
    r.dump();
  }
  for (size_t i = 0; i < kMaxSteps && !in.empty(); ++i) step(r, in);
  return 0;  // ~Rig: the host goes, then the ledger must be empty
}
