// Helpers shared by the TCP behaviour tests: a client on A and a server on B over the link, a
// way to craft segments as a blind or stale sender would (Link::inject), and readings of
// link.log (which data segments went twice, which went when).
#pragma once

#include <cstdio>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/unit/tcp_link.hpp"

namespace redline::testing {

namespace tf = wire::tcp;

// A client App on A and a server App listening on B's port 80.
struct TcpPair {
  explicit TcpPair(const tcp::Settings& sa = {}, const tcp::Settings& sb = {}, uint64_t seed = 1,
                   const tcp::ConnOptions& listen_opts = {})
      : link(sa, sb, 1460, seed) {
    EXPECT_TRUE(link.b.host->listen(80, server, listen_opts));
  }
  // Connects and runs until both sides are ESTABLISHED.
  tcp::Connection* open(const tcp::ConnOptions& opts = {}) {
    tcp::Connection* c = link.a.host->connect({kIpB, 80}, client, opts);
    EXPECT_NE(c, nullptr);
    EXPECT_TRUE(link.run_until([&] { return client.connected && server.connected; }, 1000));
    return c;
  }
  // Closes both sides in order and waits out TIME-WAIT: afterwards nothing may be left.
  void close_and_drain() {
    if (client.conn) client.conn->close();
    server.close_on_peer_close = true;
    if (server.conn) server.maybe_close(*server.conn);
    link.run_until([&] { return client.closed && server.closed; }, 200'000);
    link.run_ticks(link.a.host->ms_to_ticks(link.a.host->settings().time_wait_ms) + 10);
    link.run_ticks(link.b.host->ms_to_ticks(link.b.host->settings().time_wait_ms) + 10);
  }
  Link link;
  App client, server;
};

// A segment as bytes with a valid checksum, as if `src` sent it to `dst`.
inline Wire craft(Endpoint src, Endpoint dst, const tf::Header& h, const tf::Options& opt = {},
                  std::string_view payload = {}) {
  Wire w;
  w.src_ip = src.ip;
  w.dst_ip = dst.ip;
  w.bytes.resize(tf::kMaxHeaderLen + payload.size());
  tf::Header hh = h;
  hh.src_port = src.port;
  hh.dst_port = dst.port;
  const size_t hl = tf::write_header(w.bytes.data(), hh, opt);
  std::copy(payload.begin(), payload.end(), w.bytes.begin() + long(hl));
  w.bytes.resize(hl + payload.size());
  const uint32_t pseudo = tf::pseudo_header_sum(src.ip, dst.ip, 6, uint16_t(w.bytes.size()));
  wire::store16(w.bytes.data(), tf::kChecksum, uint16_t(~wire::ones_complement_sum(w.bytes.data(), w.bytes.size(), pseudo)));
  return w;
}

// An established pair with some data exchanged, and what the server expects next.
struct Established : TcpPair {
  Established() {
    c = open();
    s = server.conn;
    client.to_send = "hello";
    client.pump(*c);
    EXPECT_TRUE(link.run_until([&] { return server.received == "hello"; }, 1000));
    link.run_ticks(1000);  // past the delayed ACK: the link is quiet
    quiet = link.log.size();
  }
  // A segment to the server as if from the client, `off` bytes after what it expects,
  // acknowledging `ack` (by default all the server sent).
  Wire to_server(int64_t off, uint8_t flags, std::string_view payload = {}, std::optional<uint32_t> ack = {}) const {
    tf::Header h{0, 0, uint32_t(s->rcv_nxt().value() + off), ack ? *ack : s->snd_nxt().value(), flags, 1000};
    return craft(c->local(), c->remote(), h, {}, payload);
  }
  std::vector<Seen> server_sent_since_quiet() const {
    std::vector<Seen> out;
    for (size_t i = quiet; i < link.log.size(); ++i)
      if (!link.log[i].first) out.push_back(link.log[i].second);
    return out;
  }
  tcp::Connection* c = nullptr;
  tcp::Connection* s = nullptr;
  size_t quiet = 0;
};

// Segments one side put on the link (dropped ones included), optionally filtered.
template <typename Pred>
std::vector<Seen> sent_by(const Link& link, bool from_a, Pred&& pred) {
  std::vector<Seen> out;
  for (const auto& [a, s] : link.log)
    if (a == from_a && pred(s)) out.push_back(s);
  return out;
}
inline std::vector<Seen> data_from(const Link& link, bool from_a) {
  return sent_by(link, from_a, [](const Seen& s) { return s.payload_len > 0; });
}
inline std::vector<Seen> pure_acks_from(const Link& link, bool from_a) {
  return sent_by(link, from_a, [](const Seen& s) {
    return s.payload_len == 0 && s.h.flags == tf::kAck_;
  });
}

// A data range on the wire: [seq, seq + len).
using Range = std::pair<uint32_t, uint32_t>;

// Data segments that repeat sequence space already sent (their starts lie below the highest
// byte sent before them), in the order they went.
inline std::vector<Range> retransmitted(const Link& link, bool from_a) {
  std::vector<Range> out;
  bool any = false;
  net::TcpSeq high;
  for (const Seen& s : data_from(link, from_a)) {
    const net::TcpSeq seq(s.h.seq);
    if (any && seq < high) out.push_back({s.h.seq, s.payload_len});
    if (!any || high < seq + s.payload_len) high = seq + s.payload_len;
    any = true;
  }
  return out;
}

// A drop rule losing the n-th data segments (1-based, counted over everything `from_a` sends,
// retransmissions included) once each; `dropped` collects their ranges.
struct DropNth {
  DropNth(bool from_a, std::set<int> nth) : from_a_(from_a), nth_(std::move(nth)) {}
  std::vector<Range> dropped;
  bool operator()(const Seen& s, bool from_a) {
    if (from_a != from_a_ || s.payload_len == 0) return false;
    if (!nth_.count(++n_)) return false;
    dropped.push_back({s.h.seq, s.payload_len});
    return true;
  }

 private:
  bool from_a_;
  std::set<int> nth_;
  int n_ = 0;
};

// Prints link.log from `from` on, one line a segment (for a failing test's << message).
inline void dump(const Link& link, size_t from = 0) {
  for (size_t i = from; i < link.log.size(); ++i) {
    const auto& [a, s] = link.log[i];
    std::printf("%6lu %s %5u>%5u %c%c%c%c seq=%u ack=%u win=%u len=%u ts=%u/%u sack=%u\n", (unsigned long)s.at, a ? "A->B" : "B->A",
                s.h.src_port, s.h.dst_port, s.has(tf::kSyn) ? 'S' : '.', s.has(tf::kAck_) ? 'A' : '.',
                s.has(tf::kFin) ? 'F' : '.', s.has(tf::kRst) ? 'R' : '.', s.h.seq, s.h.ack, s.h.window, s.payload_len,
                s.opt.ts_val, s.opt.ts_ecr, s.opt.sack_count);
  }
}

}  // namespace redline::testing
