// The software owner of a packet (Toeplitz over hash_input, then RetaMirror::owner) must be the
// queue a NIC delivers it to: rte_softrss over the tuple the NIC hashes for that packet type,
// then the NIC's RETA, programmed by the rule the drivers use (rss::nic_reta), at hash % size.
#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_thash.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "drivers/rss_plan.hpp"
#include "stack/rss/hash_input.hpp"
#include "stack/rss/reta.hpp"
#include "stack/rss/toeplitz.hpp"

using namespace redline;
using rss::RetaMirror;

TEST(RetaMirror, DefaultSize_SpreadsRoundRobinOver512Entries) {
  RetaMirror r(4);
  EXPECT_EQ(r.size(), 512u);
  EXPECT_EQ(r.owner(0), 0u);
  EXPECT_EQ(r.owner(5), 1u);
  EXPECT_EQ(r.owner(512 + 3), 3u);  // the table repeats modulo its size
  RetaMirror one(1);
  for (uint32_t h : {0u, 7u, 0xffffffffu}) EXPECT_EQ(one.owner(h), 0u);
}

TEST(RetaMirror, PowerOfTwoSize_OwnerIsEntryOfHashModSize) {
  RetaMirror r(3, 128);
  EXPECT_EQ(r.size(), 128u);
  for (uint32_t h : {0u, 1u, 127u, 128u, 129u, 0xffffffffu}) EXPECT_EQ(r.owner(h), (h % 128) % 3) << h;
  EXPECT_EQ(r.entry(130), r.entry(2));  // entry() repeats the mirror past its size
}

TEST(RetaMirror, NonPowerOfTwoSize_UsesModulo) {
  RetaMirror r(4, 96);
  for (uint32_t h : {0u, 5u, 95u, 96u, 101u, 0xffffffffu}) EXPECT_EQ(r.owner(h), (h % 96) % 4) << h;
  RetaMirror single(3, 1);
  for (uint32_t h : {0u, 5u, 0xffffffffu}) EXPECT_EQ(single.owner(h), 0u);
}

TEST(RetaMirror, NicRetaRepeatsMirror_OnlyWhenTheMirrorSizeDividesTheNics) {
  EXPECT_TRUE(rss::nic_reta_repeats_mirror(128, 128));
  EXPECT_TRUE(rss::nic_reta_repeats_mirror(512, 128));
  EXPECT_TRUE(rss::nic_reta_repeats_mirror(512, 64));
  EXPECT_FALSE(rss::nic_reta_repeats_mirror(128, 512));
  EXPECT_FALSE(rss::nic_reta_repeats_mirror(96, 64));
  EXPECT_FALSE(rss::nic_reta_repeats_mirror(0, 64));
}

TEST(RetaMirror, NicReta_IsTheMirrorRepeated) {
  RetaMirror r(6, 64);
  auto reta = rss::nic_reta(r, 512);
  ASSERT_EQ(reta.size(), 512u);
  for (uint32_t i = 0; i < 512; ++i) ASSERT_EQ(reta[i], r.entry(i % 64)) << i;
}

namespace {

constexpr uint8_t kTcp = 6, kUdp = 17;

// One IPv4 packet's header fields and first L4 bytes, in host order.
struct Packet {
  uint32_t src, dst;
  uint16_t sport, dport;
  uint8_t proto;
  uint16_t flags_fragment;
  uint8_t ihl;  // bytes

  bool fragment() const { return (flags_fragment & 0x3fff) != 0; }  // MF or an offset

  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> p(size_t(ihl) + 8, 0x01);  // options are NOPs
    auto put16 = [&](size_t off, uint16_t v) { p[off] = uint8_t(v >> 8), p[off + 1] = uint8_t(v); };
    auto put32 = [&](size_t off, uint32_t v) { put16(off, uint16_t(v >> 16)), put16(off + 2, uint16_t(v)); };
    p[0] = uint8_t(0x40 | ihl / 4);
    put16(6, flags_fragment);
    p[9] = proto;
    put32(12, src);
    put32(16, dst);
    put16(ihl, sport);
    put16(size_t(ihl) + 2, dport);
    return p;
  }
};

Packet random_packet(std::mt19937& rng) {
  static constexpr uint8_t kProtos[] = {kTcp, kTcp, kUdp, kUdp, 1 /* ICMP */, 47 /* GRE */, 132 /* SCTP */};
  static constexpr uint16_t kFrags[] = {0, 0, 0, 0x4000 /* DF */, 0x2000 /* MF, first */, 0x2000 | 185, 370};
  Packet p;
  p.src = uint32_t(rng());
  p.dst = uint32_t(rng());
  p.sport = uint16_t(rng());
  p.dport = uint16_t(rng());
  p.proto = kProtos[rng() % std::size(kProtos)];
  p.flags_fragment = kFrags[rng() % std::size(kFrags)];
  p.ihl = uint8_t(rng() % 4 == 0 ? 20 + 4 * (1 + rng() % 10) : 20);
  return p;
}

// The NIC's hash for `p` when configured with `rss_hf`, as DPDK documents it: rte_softrss over
// rte_ipv4_tuple (host order), with ports for unfragmented TCP/UDP whose type is enabled,
// addresses only for other types covered by an enabled IPv4 type; nothing otherwise (the NIC
// then delivers to queue 0 without a hash and software decides, so there is nothing to match).
std::optional<uint32_t> nic_hash(const Packet& p, uint64_t rss_hf, const uint8_t* key) {
  rte_ipv4_tuple t{};
  t.src_addr = p.src;
  t.dst_addr = p.dst;
  t.sport = p.sport;
  t.dport = p.dport;
  auto* words = reinterpret_cast<uint32_t*>(&t);
  const bool l4 = !p.fragment() && ((p.proto == kTcp && (rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP)) ||
                                    (p.proto == kUdp && (rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP)));
  if (l4) return rte_softrss(words, RTE_THASH_V4_L4_LEN, key);
  const uint64_t own_type = p.fragment() ? RTE_ETH_RSS_FRAG_IPV4
                            : p.proto == kTcp ? RTE_ETH_RSS_NONFRAG_IPV4_TCP
                            : p.proto == kUdp ? RTE_ETH_RSS_NONFRAG_IPV4_UDP
                                              : RTE_ETH_RSS_NONFRAG_IPV4_OTHER;
  // TCP/UDP without their type enabled fall back to the IPv4 type, as NICs whose IPv4 type
  // covers every IPv4 packet do (ixgbe's MRQC IPv4 field).
  const bool addresses = (rss_hf & RTE_ETH_RSS_IPV4) ||
                         ((rss_hf & own_type) && own_type != RTE_ETH_RSS_NONFRAG_IPV4_TCP &&
                          own_type != RTE_ETH_RSS_NONFRAG_IPV4_UDP);
  if (addresses) return rte_softrss(words, RTE_THASH_V4_L3_LEN, key);
  return std::nullopt;
}

// The software owner, as the pipeline computes it for a packet no NIC hashed.
uint32_t software_owner(const Packet& p, const rss::Toeplitz& t, const RetaMirror& mirror, rss::HashFields f) {
  auto bytes = p.bytes();
  uint8_t in[rss::kMaxHashInput];
  size_t n = rss::hash_input(bytes.data(), bytes.size(), f, in);
  return mirror.owner(t.hash(in, n));
}

// The hash-type sets a plan can end with: everything wanted, no port hashing, no UDP ports.
const uint64_t kRssHfs[] = {
    drivers::kWantedRss,
    RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER,
    drivers::kWantedRss & ~RTE_ETH_RSS_NONFRAG_IPV4_UDP,
};

// Counts packets hashed by a NIC of `nic_size` RETA entries configured with `rss_hf` and
// programmed from `mirror` that it delivers to a queue other than the software owner, where
// software hashes `fields`.
struct Agreement {
  int hashed = 0, disagreed = 0;
};
Agreement compare(const RetaMirror& mirror, uint32_t nic_size, uint64_t rss_hf, rss::HashFields fields, int packets,
                  uint32_t seed) {
  const rss::Key key = rss::symmetric_key();
  const rss::Toeplitz t(key);
  const std::vector<uint16_t> nic_reta = rss::nic_reta(mirror, nic_size);
  std::mt19937 rng(seed);
  Agreement a;
  for (int i = 0; i < packets; ++i) {
    Packet p = random_packet(rng);
    auto h = nic_hash(p, rss_hf, key.data());
    if (!h) continue;
    ++a.hashed;
    a.disagreed += nic_reta[*h % nic_size] != software_owner(p, t, mirror, fields);
  }
  return a;
}

struct Case {
  uint32_t reta_size;
  uint32_t workers;
};

class NicAgreement : public testing::TestWithParam<Case> {};

}  // namespace

TEST_P(NicAgreement, SoftwareOwnerIsTheNicsQueueForEveryPacketType) {
  const auto [reta_size, workers] = GetParam();
  // The application's plan for one port with this RETA: the mirror takes its size.
  auto plan = drivers::plan_rss({drivers::RssCaps{uint16_t(reta_size), 40, drivers::kWantedRss}}, uint16_t(workers));
  // (With one worker nothing spreads and the plan keeps the default size; any size gives 0.)
  const RetaMirror mirror(workers, workers > 1 ? plan.reta_size : reta_size);
  ASSERT_EQ(mirror.size(), reta_size);
  for (uint64_t rss_hf : kRssHfs) {
    Agreement a = compare(mirror, reta_size, rss_hf, drivers::hash_fields_for(rss_hf), 4000, reta_size * 7 + workers);
    EXPECT_GT(a.hashed, 3000) << std::hex << rss_hf;
    EXPECT_EQ(a.disagreed, 0) << "rss_hf 0x" << std::hex << rss_hf;
  }
}

INSTANTIATE_TEST_SUITE_P(RetaSizesAndWorkerCounts, NicAgreement,
                         testing::Values(Case{64, 1}, Case{64, 2}, Case{64, 3}, Case{64, 4}, Case{64, 6},
                                         Case{128, 1}, Case{128, 2}, Case{128, 3}, Case{128, 4}, Case{128, 6},
                                         Case{512, 1}, Case{512, 2}, Case{512, 3}, Case{512, 4}, Case{512, 6}),
                         [](const testing::TestParamInfo<Case>& info) {
                           return "Reta" + std::to_string(info.param.reta_size) + "_" +
                                  std::to_string(info.param.workers) + "Workers";
                         });

TEST(NicAgreement, Retas128And512Together_OneMirrorOf128AgreesWithBothNics) {
  for (uint32_t workers : {2u, 3u, 6u}) {
    auto plan = drivers::plan_rss({drivers::RssCaps{128, 40, drivers::kWantedRss},
                                   drivers::RssCaps{512, 52, drivers::kWantedRss}},
                                  uint16_t(workers));
    ASSERT_EQ(plan.reta_size, 128u);
    ASSERT_TRUE(plan.software[0].empty() && plan.software[1].empty()) << plan.software[0] << plan.software[1];
    const RetaMirror mirror(workers, plan.reta_size);
    for (size_t port : {0u, 1u}) {
      const uint32_t nic = port == 0 ? 128 : 512;
      Agreement a = compare(mirror, nic, plan.rss_hf[port], plan.fields, 4000, workers * 1000 + nic);
      EXPECT_GT(a.hashed, 3000);
      EXPECT_EQ(a.disagreed, 0) << workers << " workers, NIC RETA " << nic;
    }
  }
}

TEST(NicAgreement, FixedMirrorOf512_DisagreesWithA128EntryNicAtThreeWorkers) {
  // What this replaces: a 512-entry mirror programmed into a 128-entry RETA. The rule refuses
  // the pair, and the owners really do differ.
  EXPECT_FALSE(rss::nic_reta_repeats_mirror(128, 512));
  Agreement a = compare(RetaMirror(3, 512), 128, drivers::kWantedRss, {}, 4000, 99);
  EXPECT_GT(a.disagreed, a.hashed / 4);
}

TEST(NicAgreement, NicsWithDifferentAddressTypesAndPortFields_AllAgreeWithThePlan) {
  // ixgbe-like (IPV4 covers every IPv4 packet, 128 entries), i40e-like (FRAG_IPV4 and
  // NONFRAG_IPV4_OTHER, 512 entries), and one without UDP port hashing (64 entries): the plan
  // drops UDP ports everywhere and keeps each port's address types.
  constexpr uint64_t kL4 = RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP;
  const std::vector<drivers::RssCaps> caps = {
      {128, 40, RTE_ETH_RSS_IPV4 | kL4},
      {512, 52, RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER | kL4},
      {64, 40, RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP},
  };
  auto plan = drivers::plan_rss(caps, 6);
  ASSERT_EQ(plan.reta_size, 64u);
  ASSERT_EQ(plan.fields, (rss::HashFields{true, false}));
  const RetaMirror mirror(6, plan.reta_size);
  for (size_t port = 0; port < caps.size(); ++port) {
    ASSERT_TRUE(plan.software[port].empty()) << plan.software[port];
    Agreement a = compare(mirror, caps[port].reta_size, plan.rss_hf[port], plan.fields, 4000, uint32_t(port) + 7);
    EXPECT_GT(a.hashed, 2000) << port;
    EXPECT_EQ(a.disagreed, 0) << "port " << port;
  }
}
