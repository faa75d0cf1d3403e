// The NAT stage in real workers on ring ports: translation both ways, idle expiry driven by a
// fake clock, exhaustion, and the RSS-steered port choice that keeps a flow on one core.
#include <gtest/gtest.h>

#include <rte_cycles.h>

#include "pipeline_rig.hpp"
#include "stack/nat/nat_shared.hpp"
#include "stack/nat/nat_stage.hpp"
#include "stack/wire/udp.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;

namespace {

// Port a (10.0.1.1/24, host 10.0.1.2) is inside, port b (10.0.2.1/24, host 10.0.2.2) outside.
nat::NatConfig base_config() {
  nat::NatConfig c;
  c.enabled = true;
  c.inside = {"a"};
  c.outside = {"b"};
  c.snat.push_back({*net::Ipv4Prefix::parse("10.0.1.0/24"), true, {}, 0});
  c.timeouts.rfc_minimums = false;
  return c;
}

struct NatRig {
  std::unique_ptr<nat::NatShared> nat;
  std::unique_ptr<Rig> rig;
  explicit NatRig(const nat::NatConfig& c, uint32_t workers = 1, uint16_t outside_mtu = 1500) {
    RigOptions o;
    o.workers = workers;
    o.mtu_b = outside_mtu;
    o.tweak = [this, c](pipeline::Shared& s) {
      std::vector<nat::PortAddress> ports{{"a", s.ports[0].address}, {"b", s.ports[1].address}};
      std::string error;
      auto rules = nat::NatRules::resolve(c, ports, &error);
      ASSERT_TRUE(rules) << error;
      nat = std::make_unique<nat::NatShared>(std::move(*rules));
      nat::add_nat_feature(s, *nat);
    };
    rig = std::make_unique<Rig>(o);
    rig->host_a_arps();
    rig->host_b_arps();
  }
  ~NatRig() { rig.reset(); }  // workers (and their stages) before the shared NAT state
  uint32_t sessions() const {
    uint32_t n = 0;
    for (auto* s : nat->stages) n += s ? s->sessions() : 0;
    return n;
  }
};

Frame udp(const char* src, uint16_t sport, const char* dst, uint16_t dport, net::MacAddr to, net::MacAddr from) {
  Frame payload(8 + 6);
  wire::store16(payload.data(), 0, sport);
  wire::store16(payload.data(), 2, dport);
  wire::store16(payload.data(), 4, uint16_t(payload.size()));
  std::memcpy(payload.data() + 8, "nat-me", 6);
  // RFC 768 checksum over the pseudo-header and the datagram.
  uint32_t sum = (addr(src).value >> 16) + (addr(src).value & 0xffff) + (addr(dst).value >> 16) + (addr(dst).value & 0xffff) +
                 17 + uint32_t(payload.size());
  wire::store16(payload.data(), 6, wire::internet_checksum(payload.data(), payload.size()) == 0 ? 0 : 0);
  const uint16_t c = uint16_t(~wire::ones_complement_sum(payload.data(), payload.size(), sum));
  wire::store16(payload.data(), 6, c == 0 ? 0xffff : c);
  return ipv4_frame(to, from, addr(src), addr(dst), 17, payload);
}
Frame out_udp(uint16_t sport, uint16_t dport = 5000) { return udp("10.0.1.2", sport, "10.0.2.2", dport, kMacA, kHostA); }
Frame in_udp(uint16_t sport, uint16_t dport) { return udp("10.0.2.2", sport, "10.0.2.1", dport, kMacB, kHostB); }

struct Seen {
  net::Ipv4Addr src, dst;
  uint16_t sport = 0, dport = 0;
  bool checksums_ok = false;
};
Seen seen(const Frame& f) {
  const uint8_t* ip = f.data() + wire::eth::kHeaderLen;
  const uint8_t* l4 = ip + 20;
  Seen s{wire::ipv4::src(ip), wire::ipv4::dst(ip), wire::load16(l4, 0), wire::load16(l4, 2), false};
  const size_t len = f.size() - wire::eth::kHeaderLen - 20;
  uint32_t sum = (s.src.value >> 16) + (s.src.value & 0xffff) + (s.dst.value >> 16) + (s.dst.value & 0xffff) + 17 + uint32_t(len);
  s.checksums_ok = wire::checksum_ok(ip, 20) && wire::ones_complement_sum(l4, len, sum) == 0xffff;
  return s;
}

uint64_t seconds(double s) { return uint64_t(s * double(rte_get_tsc_hz())); }

}  // namespace

TEST(Nat, UdpTranslatedOutAndBackWithPortPreserved) {
  NatRig n(base_config());
  Rig& rig = *n.rig;
  rig.inject(rig.a(), out_udp(40000));
  rig.poll();
  auto out = rig.take(rig.b());
  ASSERT_EQ(out.size(), 1u);
  Seen o = seen(out[0]);
  EXPECT_EQ(o.src, addr("10.0.2.1"));
  EXPECT_EQ(o.sport, 40000);  // RFC 4787 §4.2.1: preserved, the port being free
  EXPECT_TRUE(o.checksums_ok);
  rig.inject(rig.b(), in_udp(5000, 40000));
  rig.poll();
  auto back = rig.take(rig.a());
  ASSERT_EQ(back.size(), 1u);
  Seen i = seen(back[0]);
  EXPECT_EQ(i.dst, addr("10.0.1.2"));
  EXPECT_EQ(i.dport, 40000);
  EXPECT_TRUE(i.checksums_ok);
  EXPECT_EQ(rig.counter(Counter::nat_sessions_created), 1u);
  EXPECT_EQ(rig.counter(Counter::nat_translated_out), 1u);
  EXPECT_EQ(rig.counter(Counter::nat_translated_in), 1u);
}

TEST(Nat, UnsolicitedInboundIsFilteredByAddress) {
  NatRig n(base_config());
  Rig& rig = *n.rig;
  rig.inject(rig.a(), out_udp(40000));
  rig.poll();
  rig.take(rig.b());
  // Same outside host, another port: allowed (address-dependent, RFC 4787 REQ-8).
  rig.inject(rig.b(), in_udp(6000, 40000));
  // Another outside host: filtered.
  rig.inject(rig.b(), udp("10.0.2.3", 5000, "10.0.2.1", 40000, kMacB, kHostB));
  // A port with no mapping.
  rig.inject(rig.b(), in_udp(5000, 40001));
  rig.poll();
  EXPECT_EQ(rig.take(rig.a()).size(), 1u);
  EXPECT_EQ(rig.counter(Counter::nat_filtered), 1u);
  EXPECT_EQ(rig.counter(Counter::nat_no_mapping), 1u);
}

TEST(Nat, SessionsExpireOnTimeAndTrafficRefreshesThem) {
  nat::NatConfig c = base_config();
  c.timeouts.udp_s = 3;
  NatRig n(c);
  Rig& rig = *n.rig;
  const uint64_t t0 = rte_rdtsc() + seconds(1);
  rig.inject(rig.a(), out_udp(40000));
  rig.inject(rig.a(), out_udp(40002));
  rig.poll(0, t0);
  rig.take(rig.b());
  EXPECT_EQ(n.sessions(), 2u);
  // 2 s later one of them carries traffic: its idle time starts again.
  rig.inject(rig.a(), out_udp(40002));
  rig.poll(0, t0 + seconds(2));
  rig.take(rig.b());
  for (double t = 2.1; t < 3.5; t += 0.1) rig.poll(0, t0 + seconds(t));
  EXPECT_EQ(n.sessions(), 1u) << "the idle one expired at 3 s";
  EXPECT_EQ(rig.counter(Counter::nat_sessions_expired), 1u);
  for (double t = 3.5; t < 5.5; t += 0.1) rig.poll(0, t0 + seconds(t));
  EXPECT_EQ(n.sessions(), 0u) << "the refreshed one at 5 s";
  EXPECT_EQ(rig.counter(Counter::nat_sessions_expired), 2u);
  // Its mapping went with it: a late reply finds nothing.
  rig.inject(rig.b(), in_udp(5000, 40002));
  rig.poll(0, t0 + seconds(6));
  EXPECT_TRUE(rig.take(rig.a()).empty());
  EXPECT_EQ(rig.counter(Counter::nat_no_mapping), 1u);
}

// A flood of new flows, a full burst every iteration, must not outrun expiry (the worker fires at
// most Worker::kTimerBudget timers per iteration). Sessions already overdue when the flood
// starts expiring are a backlog on top of the flood's own: expiry must work it off while the
// flood's own sessions come due at the same pace they were made.
TEST(Nat, ExpiryKeepsUpWithAFullBurstOfNewFlowsEveryIteration) {
  nat::NatConfig c = base_config();
  c.timeouts.udp_s = 1;
  NatRig n(c);
  Rig& rig = *n.rig;
  const uint32_t burst = rig.shared().settings.burst;
  uint16_t next_port = 1024;
  auto new_flows = [&](uint64_t tsc) {
    for (uint32_t i = 0; i < burst; ++i) rig.inject(rig.a(), out_udp(next_port++));
    rig.poll(0, tsc);
    ASSERT_EQ(rig.take(rig.b()).size(), burst);
  };
  const uint64_t t0 = rte_rdtsc() + seconds(1);
  // The backlog: ten bursts made at one instant, all due together at t0 + 1 s.
  for (int i = 0; i < 10; ++i) new_flows(t0);
  // The flood: one burst every 20 ms from t0 on, so one burst comes due per iteration after 1 s.
  const uint64_t step = seconds(0.02);
  for (uint64_t k = 1; k <= 75; ++k) new_flows(t0 + k * step);
  // At t0 + 1.5 s the live sessions are those of the last second: 50 bursts, give or take the
  // one at the edge. A lagging expiry still holds (part of) the backlog's ten.
  EXPECT_LE(n.sessions(), 52 * burst) << "expiry fell behind the flood";
  EXPECT_GE(n.sessions(), 49 * burst);
  EXPECT_EQ(rig.counter(Counter::nat_refused_no_port) + rig.counter(Counter::nat_refused_table_full), 0u);
}

TEST(Nat, TcpIdleTimeoutFollowsTheConnectionState) {
  nat::NatConfig c = base_config();
  c.timeouts.tcp_transitory_s = 4;
  c.timeouts.tcp_established_s = 20;
  NatRig n(c);
  Rig& rig = *n.rig;
  auto tcp = [&](bool out, uint16_t port, uint8_t flags) {
    Frame seg(20, 0);
    wire::store16(seg.data(), 0, out ? port : 80);
    wire::store16(seg.data(), 2, out ? 80 : port);
    seg[12] = 5 << 4;
    seg[13] = flags;
    return out ? ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 6, seg)
               : ipv4_frame(kMacB, kHostB, addr("10.0.2.2"), addr("10.0.2.1"), 6, seg);
  };
  const uint64_t t0 = rte_rdtsc() + seconds(1);
  rig.inject(rig.a(), tcp(true, 40000, nat::kTcpSyn));  // opening, never answered
  rig.inject(rig.a(), tcp(true, 40001, nat::kTcpSyn));  // opened
  rig.poll(0, t0);
  rig.inject(rig.b(), tcp(false, 40001, nat::kTcpSyn | nat::kTcpAck));
  rig.poll(0, t0 + 1000);
  rig.inject(rig.a(), tcp(true, 40001, nat::kTcpAck));
  rig.poll(0, t0 + 2000);
  rig.take(rig.a());
  rig.take(rig.b());
  EXPECT_EQ(rig.counter(Counter::nat_translated_in), 1u);
  EXPECT_EQ(n.sessions(), 2u);
  for (double t = 0.1; t < 5; t += 0.1) rig.poll(0, t0 + seconds(t));
  EXPECT_EQ(n.sessions(), 1u) << "the SYN-only one is transitory (4 s), the established one is not";
  // Both sides close: transitory again, counted from now.
  rig.inject(rig.a(), tcp(true, 40001, nat::kTcpFin | nat::kTcpAck));
  rig.poll(0, t0 + seconds(5));
  rig.inject(rig.b(), tcp(false, 40001, nat::kTcpFin | nat::kTcpAck));
  rig.poll(0, t0 + seconds(5.1));
  rig.take(rig.a());
  rig.take(rig.b());
  for (double t = 5.2; t < 9.4; t += 0.1) rig.poll(0, t0 + seconds(t));
  EXPECT_EQ(n.sessions(), 0u);
}

TEST(Nat, PortExhaustionRefusesNewFlowsWhileOldOnesKeepWorking) {
  nat::NatConfig c = base_config();
  c.udp_ports = {40000, 40003};
  c.port_preservation = false;
  NatRig n(c);
  Rig& rig = *n.rig;
  for (uint16_t p = 1; p <= 5; ++p) rig.inject(rig.a(), out_udp(uint16_t(50000 + p)));
  rig.poll();
  EXPECT_EQ(rig.take(rig.b()).size(), 4u);
  EXPECT_EQ(rig.counter(Counter::nat_refused_no_port), 1u);
  rig.inject(rig.a(), out_udp(50001));
  rig.poll();
  auto again = rig.take(rig.b());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(seen(again[0]).sport, 40000);
  EXPECT_LE(seen(again[0]).sport, 40003);
}

TEST(Nat, FullSessionTableRefusesNewFlows) {
  nat::NatConfig c = base_config();
  c.max_sessions = 16;
  NatRig n(c);
  Rig& rig = *n.rig;
  for (uint16_t p = 0; p < 20; ++p) rig.inject(rig.a(), out_udp(uint16_t(50000 + p)));
  rig.poll();
  EXPECT_EQ(rig.take(rig.b()).size(), 16u);
  EXPECT_EQ(rig.counter(Counter::nat_refused_table_full), 4u);
}

// With two workers, each packet is put on the RX queue of the worker its symmetric hash names,
// as a NIC with RSS would: a new mapping's port is chosen so the replies hash to the worker that
// made it, so no packet of the flow, either way, changes cores.
TEST(Nat, RepliesReachTheWorkerThatChoseThePort) {
  nat::NatConfig c = base_config();
  c.port_preservation = false;
  NatRig n(c, 2);
  Rig& rig = *n.rig;
  pipeline::Shared& s = rig.shared();
  auto owner = [&](const Frame& f) {
    uint8_t input[rss::kMaxHashInput];
    const size_t len = rss::hash_input(f.data() + wire::eth::kHeaderLen, f.size() - wire::eth::kHeaderLen, s.hash_fields, input);
    return s.reta.owner(s.toeplitz.hash(input, len));
  };
  constexpr int kFlows = 64;
  for (int i = 0; i < kFlows; ++i) {
    Frame f = out_udp(uint16_t(20000 + i));
    rig.inject(rig.a(), f, owner(f));
  }
  rig.poll_all(3);
  auto out = rig.take(rig.b());
  ASSERT_EQ(out.size(), size_t(kFlows));
  for (const Frame& f : out) {
    Frame reply = in_udp(seen(f).dport, seen(f).sport);
    rig.inject(rig.b(), reply, owner(reply));
  }
  rig.poll_all(3);
  EXPECT_EQ(rig.take(rig.a()).size(), size_t(kFlows));
  EXPECT_EQ(rig.counter(Counter::handoff_out), 0u) << "no packet changed cores";
  EXPECT_EQ(rig.counter(Counter::nat_steered), 0u);
  EXPECT_GT(n.nat->stages[0]->sessions(), 0u);
  EXPECT_GT(n.nat->stages[1]->sessions(), 0u);
}

// A new flow's first packets often arrive in one burst (traceroute's probes, SYN and data):
// the first makes the session, the rest must find it rather than be refused as a clash.
TEST(Nat, PacketsOfOneNewFlowInOneBurstShareTheSession) {
  NatRig n(base_config());
  Rig& rig = *n.rig;
  for (int i = 0; i < 6; ++i) rig.inject(rig.a(), out_udp(40000));
  rig.poll();
  EXPECT_EQ(rig.take(rig.b()).size(), 6u);
  EXPECT_EQ(rig.counter(Counter::nat_sessions_created), 1u);
  EXPECT_EQ(rig.counter(Counter::nat_refused_table_full), 0u);
}

// New sessions are made at the end of their burst (nat_sessions.cpp, create_pending): a flow
// refused there has every packet of the burst refused and its fresh mapping given back, and the
// burst leaves in the order it came, new flows and known ones mixed.
TEST(Nat, RefusedNewFlowInOneBurst_RefusesAllItsPacketsAndGivesItsMappingBack) {
  nat::NatConfig c = base_config();
  c.max_sessions = 2;
  NatRig n(c);
  Rig& rig = *n.rig;
  // Two sessions of one mapping fill the session table; the mapping table still has room.
  rig.inject(rig.a(), out_udp(40000, 5000));
  rig.inject(rig.a(), out_udp(40000, 5001));
  rig.poll();
  ASSERT_EQ(rig.take(rig.b()).size(), 2u);
  ASSERT_EQ(n.nat->stages[0]->mappings(), 1u);
  // A new inside endpoint gets a mapping, then no session: all three packets refused.
  for (int i = 0; i < 3; ++i) rig.inject(rig.a(), out_udp(40001));
  rig.poll();
  EXPECT_TRUE(rig.take(rig.b()).empty());
  EXPECT_EQ(rig.counter(Counter::nat_refused_table_full), 3u);
  EXPECT_EQ(n.nat->stages[0]->sessions(), 2u);
  EXPECT_EQ(n.nat->stages[0]->mappings(), 1u) << "the refused flow's mapping was released";
}

TEST(Nat, BurstOfNewAndKnownFlowsLeavesInOrder) {
  NatRig n(base_config());
  Rig& rig = *n.rig;
  rig.inject(rig.a(), out_udp(40000));
  rig.poll();
  ASSERT_EQ(rig.take(rig.b()).size(), 1u);
  for (uint16_t port : {40000, 40001, 40000, 40002, 40001, 40000}) rig.inject(rig.a(), out_udp(port));
  rig.poll();
  auto out = rig.take(rig.b());
  ASSERT_EQ(out.size(), 6u);
  std::vector<uint16_t> ports;
  for (const Frame& f : out) ports.push_back(seen(f).sport);  // preserved: the inside ports
  EXPECT_EQ(ports, (std::vector<uint16_t>{40000, 40001, 40000, 40002, 40001, 40000}));
  EXPECT_EQ(rig.counter(Counter::nat_sessions_created), 3u);
  for (const Frame& f : out) EXPECT_TRUE(seen(f).checksums_ok);
}

// RFC 5508 §7, RFC 1191: a datagram with DF set too big for the outside link is answered
// "fragmentation needed" about the datagram as the inside host sent it (before translation),
// so the host's path-MTU discovery works through the NAT.
TEST(Nat, TooBigWithDfGetsFragmentationNeededUntranslated) {
  NatRig n(base_config(), 1, 1280);
  Rig& rig = *n.rig;
  rig.inject(rig.a(), out_udp(40000));  // the session
  rig.poll();
  rig.take(rig.b());
  Frame big = out_udp(40000);
  big.resize(14 + 1400, 0xab);
  uint8_t* ip = big.data() + 14;
  wire::store16(ip, wire::ipv4::kTotalLength, 1400);
  wire::store16(ip, wire::ipv4::kFlagsFragment, wire::ipv4::kFlagDontFragment);
  wire::store16(ip, wire::ipv4::kChecksum, 0);
  wire::store16(ip, wire::ipv4::kChecksum, wire::internet_checksum(ip, 20));
  wire::store16(ip + 20, 4, 1380);
  wire::store16(ip + 20, 6, 0);
  rig.inject(rig.a(), big);
  rig.poll();
  EXPECT_TRUE(rig.take(rig.b()).empty());
  auto back = rig.take(rig.a());
  ASSERT_EQ(back.size(), 1u);
  const uint8_t* eip = back[0].data() + 14;
  const uint8_t* icmp = eip + 20;
  EXPECT_EQ(icmp[0], wire::icmp::kDestUnreachable);
  EXPECT_EQ(icmp[1], wire::icmp::kFragmentationNeeded);
  EXPECT_EQ(wire::load16(icmp, 6), 1280);
  EXPECT_EQ(wire::ipv4::dst(eip), addr("10.0.1.2"));
  EXPECT_EQ(wire::ipv4::src(icmp + 8), addr("10.0.1.2")) << "the quote is the datagram as sent, untranslated";
  EXPECT_EQ(rig.counter(Counter::ipv4_mtu_exceeded), 1u);
}

// Hostile input through the NAT: every IPv4 protocol the NAT parses, with random headers and
// lengths cut anywhere, from both sides. Nothing may crash, hang or leak (the rig counts mbufs).
TEST(Nat, MalformedPacketsFromBothSidesAreHandledOrCounted) {
  nat::NatConfig c = base_config();
  c.dnat.push_back({17, addr("10.0.2.1"), 5353, addr("10.0.1.2"), 5353, 0});
  NatRig n(c);
  Rig& rig = *n.rig;
  uint32_t seed = 12345;
  auto rnd = [&] { return seed = seed * 1103515245 + 12345, seed >> 8; };
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 32; ++i) {
      const uint8_t protos[] = {1, 6, 17, 47};
      const uint8_t proto = protos[rnd() % 4];
      Frame payload(rnd() % 80, 0);
      for (auto& byte : payload) byte = uint8_t(rnd());
      if (proto == 1 && payload.size() > 8 && rnd() % 2) {
        payload[0] = uint8_t(rnd() % 2 ? 3 : 11);  // an error, quoting random bytes
        if (payload.size() > 28) payload[8] = 0x45;
      }
      const bool inbound = rnd() % 2;
      Frame f = inbound ? ipv4_frame(kMacB, kHostB, addr("10.0.2.2"), addr("10.0.2.1"), proto, payload)
                        : ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), proto, payload);
      if (rnd() % 4 == 0) wire::store16(f.data() + 14, wire::ipv4::kFlagsFragment, uint16_t(rnd() % 2 ? 0x2000 : 0x0010));
      wire::store16(f.data() + 14, wire::ipv4::kChecksum, 0);
      wire::store16(f.data() + 14, wire::ipv4::kChecksum, wire::internet_checksum(f.data() + 14, 20));
      rig.inject(inbound ? rig.b() : rig.a(), f);
    }
    rig.poll();
    rig.take(rig.a());
    rig.take(rig.b());
  }
  // Still translating afterwards.
  rig.inject(rig.a(), out_udp(41000));
  rig.poll();
  EXPECT_EQ(rig.take(rig.b()).size(), 1u);
}

TEST(Nat, DnatRuleAddedByReload_ReservesItsPortFromDynamicMappings) {
  // Before: the shares reserved DNAT ports only when first made, so a rule added by reload left
  // its port to dynamic mappings (port preservation would hand it to an inside host). Now the
  // port is reserved at the reload, and a port a mapping held then is reserved when it ends.
  nat::NatConfig c = base_config();
  c.timeouts.udp_s = 5;
  NatRig n(c);
  Rig& rig = *n.rig;
  rig.inject(rig.a(), out_udp(41000));  // the share of 10.0.2.1 exists, port 41000 mapped
  rig.poll();
  ASSERT_EQ(seen(rig.take(rig.b()).at(0)).sport, 41000);
  c.dnat.push_back({17, addr("10.0.2.1"), 42000, addr("10.0.1.2"), 7000, 0});  // a free port
  c.dnat.push_back({17, addr("10.0.2.1"), 41000, addr("10.0.1.2"), 7001, 0});  // the mapped one
  std::vector<nat::PortAddress> ports{{"a", rig.shared().ports[0].address}, {"b", rig.shared().ports[1].address}};
  std::string error;
  auto reloaded = nat::NatRules::resolve(c, ports, &error);
  ASSERT_TRUE(reloaded) << error;
  n.nat->rules.store(&*reloaded, std::memory_order_release);
  // An inside host sending from 42000 does not get 42000: the rule forwards it.
  rig.inject(rig.a(), out_udp(42000));
  rig.poll();
  auto out = rig.take(rig.b());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(seen(out[0]).sport, 42000);
  // Inbound to 42000 reaches the rule's host and port.
  rig.inject(rig.b(), in_udp(5000, 42000));
  rig.poll();
  auto in = rig.take(rig.a());
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(seen(in[0]).dport, 7000);
  // The mapping on 41000 ends (idle expiry); afterwards 41000 is the rule's: a new inside flow
  // from 41000 gets another port.
  rig.poll(0, rte_rdtsc() + seconds(10));
  rig.poll(0, rte_rdtsc() + seconds(11));
  rig.inject(rig.a(), out_udp(41000, 5001));
  rig.poll(0, rte_rdtsc() + seconds(12));
  out = rig.take(rig.b());
  std::erase_if(out, [](const Frame& f) { return wire::load16(f.data(), 12) != wire::eth::kTypeIpv4; });  // ARP refreshes
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(seen(out[0]).sport, 41000);
  n.nat->rules.store(n.nat->in_force.get(), std::memory_order_release);
  rig.poll(0, rte_rdtsc() + seconds(13));  // the worker lets go of `reloaded` before it goes
}
