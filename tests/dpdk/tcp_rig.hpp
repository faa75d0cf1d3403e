// TCP and UDP in real workers on ring ports, with the test as host A (10.0.1.2, port a): the
// features registered the way dpdk_app/app_tcp.cpp registers them (UDP stage first, then the TCP
// feature, the built-in services started from TcpShared::start), a TSC clock the test moves, and
// a small TCP peer that builds segments with stack/wire and reads redline's.
#pragma once

#include <rte_cycles.h>
#include <rte_mempool.h>

#include <map>
#include <optional>

#include "stack/services/services.hpp"
#include "stack/tcp/tcp_stage.hpp"
#include "stack/udp/udp_stage.hpp"
#include "stack/wire/tcp.hpp"
#include "stack/wire/udp.hpp"
#include "tests/dpdk/pipeline_rig.hpp"

namespace redline::testing {

namespace tw = wire::tcp;

constexpr uint16_t kEchoPort = 7;

inline uint32_t l4_pseudo(net::Ipv4Addr src, net::Ipv4Addr dst, uint8_t proto, size_t len) {
  return tw::pseudo_header_sum(src.value, dst.value, proto, uint16_t(len));
}

// One TCP segment as the peer writes it.
struct Seg {
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 65535;
  tw::Options opt;
  Frame payload;
};

// The TCP bytes of `s` with a correct checksum (RFC 9293 §3.1).
inline Frame tcp_bytes(net::Ipv4Addr src, net::Ipv4Addr dst, const Seg& s) {
  Frame t(tw::kMaxHeaderLen + s.payload.size());
  const size_t hl = tw::write_header(t.data(), {s.sport, s.dport, s.seq, s.ack, s.flags, s.window}, s.opt);
  std::copy(s.payload.begin(), s.payload.end(), t.begin() + long(hl));
  t.resize(hl + s.payload.size());
  wire::store16(t.data(), tw::kChecksum,
                uint16_t(~wire::ones_complement_sum(t.data(), t.size(), l4_pseudo(src, dst, 6, t.size()))));
  return t;
}

inline Frame from_host_a(const Frame& l4, uint8_t proto, const char* dst = "10.0.1.1", const char* src = "10.0.1.2") {
  return ipv4_frame(kMacA, kHostA, addr(src), addr(dst), proto, l4);
}

// A UDP datagram with a correct checksum (RFC 768).
inline Frame udp_bytes(net::Ipv4Addr src, net::Ipv4Addr dst, uint16_t sport, uint16_t dport, const Frame& data) {
  Frame u(wire::udp::kHeaderLen + data.size());
  wire::store16(u.data(), wire::udp::kSrcPort, sport);
  wire::store16(u.data(), wire::udp::kDstPort, dport);
  wire::store16(u.data(), wire::udp::kLength, uint16_t(u.size()));
  std::copy(data.begin(), data.end(), u.begin() + wire::udp::kHeaderLen);
  const uint16_t c = uint16_t(~wire::ones_complement_sum(u.data(), u.size(), l4_pseudo(src, dst, 17, u.size())));
  wire::store16(u.data(), wire::udp::kChecksum, c == 0 ? 0xffff : c);
  return u;
}

// What redline sent, read back.
// `n` bytes of the services' pattern (what the source service sends).
inline Frame pattern(size_t n) {
  Frame f(n);
  for (size_t i = 0; i < n; ++i) f[i] = services::pattern_byte(i);
  return f;
}

struct Out {
  net::Ipv4Addr src, dst;
  uint8_t proto = 0;
  tw::Header h;       // TCP
  tw::Options opt;    // TCP
  Frame l4;           // the whole transport part
  Frame payload;      // TCP or UDP payload
  bool checksums_ok = false;  // IP header and transport (pseudo-header included)
};

inline std::optional<Out> read_out(const Frame& f) {
  if (f.size() < wire::eth::kHeaderLen + 20 || wire::eth::type(f.data()) != wire::eth::kTypeIpv4) return std::nullopt;
  const uint8_t* ip = f.data() + wire::eth::kHeaderLen;
  const size_t ihl = wire::ipv4::header_len(ip);
  const size_t total = wire::load16(ip, wire::ipv4::kTotalLength);
  if (total < ihl || wire::eth::kHeaderLen + total > f.size()) return std::nullopt;
  Out o;
  o.src = wire::ipv4::src(ip);
  o.dst = wire::ipv4::dst(ip);
  o.proto = wire::load8(ip, wire::ipv4::kProtocol);
  o.l4.assign(ip + ihl, ip + total);
  bool l4_ok = true;
  if (o.proto == 6 && o.l4.size() >= tw::kMinHeaderLen) {
    const uint8_t* t = o.l4.data();
    o.h = tw::read_header(t);
    const size_t hl = tw::header_len(t);
    if (hl < tw::kMinHeaderLen || hl > o.l4.size()) return std::nullopt;
    o.opt = tw::parse_options(t + tw::kMinHeaderLen, hl - tw::kMinHeaderLen);
    o.payload.assign(t + hl, t + o.l4.size());
    l4_ok = wire::ones_complement_sum(t, o.l4.size(), l4_pseudo(o.src, o.dst, 6, o.l4.size())) == 0xffff;
  } else if (o.proto == 17 && o.l4.size() >= wire::udp::kHeaderLen) {
    o.payload.assign(o.l4.begin() + wire::udp::kHeaderLen, o.l4.end());
    l4_ok = wire::load16(o.l4.data(), wire::udp::kChecksum) == 0 ||
            wire::ones_complement_sum(o.l4.data(), o.l4.size(), l4_pseudo(o.src, o.dst, 17, o.l4.size())) == 0xffff;
  } else if (o.proto == 1) {
    l4_ok = wire::checksum_ok(o.l4.data(), o.l4.size());
  }
  o.checksums_ok = wire::checksum_ok(ip, ihl) && l4_ok;
  return o;
}

struct TcpRigOptions {
  uint32_t workers = 1;
  tcp::Settings settings;
  services::ServicesConfig services = [] {
    services::ServicesConfig s;
    s.echo = kEchoPort;
    s.nodelay = true;
    return s;
  }();
};

class TcpRig {
 public:
  explicit TcpRig(const TcpRigOptions& o = {}) : svc_(o.services) {
    tcp_.settings = o.settings;
    tcp_.isn_key[0] = 0x0123456789abcdefull;
    tcp_.isn_key[1] = 0xfedcba9876543210ull;
    udp_.assign(o.workers, nullptr);
    tcp_.start = [this, workers = o.workers](tcp::TcpStage& t) {
      services::start(svc_, t, udp_[t.worker().id()], workers, totals_);
    };
    RigOptions ro;
    ro.workers = o.workers;
    ro.tweak = [this](pipeline::Shared& s) {
      s.features.push_back([this](pipeline::StageGraph& g, pipeline::Worker& w) {
        auto stage = std::make_unique<udp::UdpStage>(w, g.local(wire::ipv4::kProtoUdp));
        udp_[w.id()] = stage.get();
        g.set_local(wire::ipv4::kProtoUdp, g.add(std::move(stage)));
      });
      tcp::add_tcp_feature(s, tcp_);
    };
    rig_ = std::make_unique<Rig>(ro);
    rig_->host_a_arps();
    rig_->host_b_arps();
    tsc_ = rte_rdtsc();
  }
  ~TcpRig() { release(); }
  // Workers and their stages go (every mbuf back to the pool) before the shared TCP state.
  void release() { rig_.reset(); }

  Rig& rig() { return *rig_; }
  tcp::TcpStage& stage(uint32_t w = 0) { return *tcp_.stages[w]; }
  udp::UdpStage& udp(uint32_t w = 0) { return *udp_[w]; }
  uint64_t counter(net::Counter c) const { return rig_->counter(c); }
  uint64_t counter(uint32_t w, net::Counter c) { return rig_->worker(w).counters().get(c); }
  uint32_t connections() const {
    uint32_t n = 0;
    for (auto* s : tcp_.stages) n += s ? s->connections() : 0;
    return n;
  }

  void inject(const Frame& f, uint32_t queue = 0) { rig_->inject(rig_->a(), f, queue); }
  // Every worker polls `rounds` times, the clock moving `ms` before each round. What redline sent
  // to host A comes back (ARP requests for host A are answered, as the host would).
  std::vector<Frame> exchange(int rounds = 3, double ms = 0.1) {
    std::vector<Frame> out;
    for (int r = 0; r < rounds; ++r) {
      tsc_ += uint64_t(ms * double(rte_get_tsc_hz()) / 1000.0);
      for (uint32_t w = 0; w < rig_->shared().workers; ++w) rig_->poll(w, tsc_);
      for (Frame& f : rig_->take(rig_->a())) {
        if (wire::eth::type(f.data()) == wire::eth::kTypeArp) {
          if (wire::load16(f.data() + wire::eth::kHeaderLen, wire::arp::kOperation) == wire::arp::kOpRequest)
            inject(arp_frame(2, kHostA, addr("10.0.1.2"), kMacA, addr("10.0.1.1")));
          continue;
        }
        out.push_back(std::move(f));
      }
      RingTestbed::drain(rig_->b());
    }
    return out;
  }
  // Lets `seconds` pass in steps of `step_ms`, dropping whatever redline sends.
  void idle(double seconds, double step_ms = 50) {
    for (double t = 0; t < seconds * 1000; t += step_ms) exchange(1, step_ms);
  }

 private:
  services::ServicesConfig svc_;
  services::ClientTotals totals_;
  tcp::TcpShared tcp_;
  std::vector<udp::UdpStage*> udp_;
  std::unique_ptr<Rig> rig_;
  uint64_t tsc_ = 0;
};

// The TCP of host A for one connection: sequence numbers both ways, timestamps, and the bytes
// redline sent, in order.
struct Peer {
  TcpRig& t;
  uint16_t port, server_port;
  const char* ip = "10.0.1.2";
  const char* server_ip = "10.0.1.1";
  uint32_t snd_nxt = 1000, rcv_nxt = 0;
  bool ts = true;
  uint32_t ts_val = 5000, ts_recent = 0;
  Frame received;
  bool fin_received = false;

  Seg seg(uint8_t flags, const Frame& payload = {}) {
    Seg s;
    s.sport = port;
    s.dport = server_port;
    s.seq = snd_nxt;
    s.ack = (flags & tw::kAck_) ? rcv_nxt : 0;
    s.flags = flags;
    s.window = 65535;  // scaled by 7 after the handshake: ~8 MB
    if (ts) {
      s.opt.has_timestamps = true;
      s.opt.ts_val = ++ts_val;
      s.opt.ts_ecr = ts_recent;
    }
    s.payload = payload;
    return s;
  }
  Frame frame(const Seg& s) { return from_host_a(tcp_bytes(addr(ip), addr(server_ip), s), 6, server_ip, ip); }
  // Sends a segment and advances SND.NXT over its data, SYN and FIN.
  void send(uint8_t flags, const Frame& payload = {}, uint32_t queue = 0) {
    t.inject(frame(seg(flags, payload)), queue);
    snd_nxt += uint32_t(payload.size()) + ((flags & tw::kSyn) ? 1 : 0) + ((flags & tw::kFin) ? 1 : 0);
  }
  void syn() {
    Seg s = seg(tw::kSyn);
    s.opt.mss = 1460;
    s.opt.sack_permitted = true;
    s.opt.window_shift = 7;
    t.inject(frame(s));
    ++snd_nxt;
  }
  // Takes redline's segments of this connection from `out` (in order, as a link without loss
  // delivers them): their bytes and FIN are received. Returns them.
  std::vector<Out> take(const std::vector<Frame>& out) {
    std::vector<Out> mine;
    for (const Frame& f : out) {
      auto o = read_out(f);
      if (!o || o->proto != 6 || o->h.dst_port != port || o->h.src_port != server_port) continue;
      if (o->opt.has_timestamps) ts_recent = o->opt.ts_val;
      if (o->h.flags & tw::kSyn) rcv_nxt = o->h.seq + 1;
      if (o->h.seq == rcv_nxt && !o->payload.empty()) {
        received.insert(received.end(), o->payload.begin(), o->payload.end());
        rcv_nxt += uint32_t(o->payload.size());
      }
      if ((o->h.flags & tw::kFin) && !fin_received && o->h.seq + uint32_t(o->payload.size()) == rcv_nxt) {
        fin_received = true;
        ++rcv_nxt;
      }
      mine.push_back(std::move(*o));
    }
    return mine;
  }
  // A full handshake with redline's listener on server_port; false if it did not complete.
  bool open() {
    syn();
    auto got = take(t.exchange());
    if (got.size() != 1 || got[0].h.flags != (tw::kSyn | tw::kAck_)) return false;
    send(tw::kAck_);
    take(t.exchange());
    return true;
  }
};

// A test's own application: records what happened to its connections.
struct Recorder final : tcp::Handler, tcp::Listener {
  std::vector<tcp::Connection*> connected;
  std::map<tcp::Connection*, tcp::Error> closed;
  uint32_t writable = 0;
  tcp::Handler* on_accept(tcp::Connection&) override { return this; }  // on_connected follows
  void on_connected(tcp::Connection& c) override { connected.push_back(&c); }
  void on_data(tcp::Connection& c) override { c.consume(c.readable()); }
  void on_writable(tcp::Connection&) override { ++writable; }
  void on_closed(tcp::Connection& c, tcp::Error e) override { closed[&c] = e; }
};

}  // namespace redline::testing
