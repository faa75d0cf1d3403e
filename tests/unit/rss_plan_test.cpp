// Planning RSS over all ports (drivers/rss_plan.hpp): one mirror size, one set of hash types,
// and a reason for every port left to software ownership.
#include <gtest/gtest.h>

#include <vector>

#include "drivers/rss_plan.hpp"

using namespace redline::drivers;

namespace {
constexpr uint64_t kNoUdp = kWantedRss & ~RTE_ETH_RSS_NONFRAG_IPV4_UDP;
RssCaps nic(uint16_t reta, uint64_t hf = kWantedRss, uint8_t key = 40) { return RssCaps{reta, key, hf}; }
const RssCaps kRing{};  // net_ring, net_tap without RSS: nothing offered
}  // namespace

TEST(HashFieldsFor, PortsHashedOnlyWithTheirNonfragType) {
  EXPECT_EQ(hash_fields_for(kWantedRss), (redline::rss::HashFields{true, true}));
  EXPECT_EQ(hash_fields_for(kNoUdp), (redline::rss::HashFields{true, false}));
  EXPECT_EQ(hash_fields_for(RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_UDP), (redline::rss::HashFields{false, true}));
  EXPECT_EQ(hash_fields_for(RTE_ETH_RSS_IPV4), (redline::rss::HashFields{false, false}));
}

TEST(RssPlan, NoRssPorts_DefaultMirrorPortsHashedAndReasons) {
  auto plan = plan_rss({kRing, kRing}, 4);
  EXPECT_EQ(plan.rss_hf, (std::vector<uint64_t>{0, 0}));
  EXPECT_EQ(plan.reta_size, 512u);
  EXPECT_EQ(plan.fields, (redline::rss::HashFields{true, true}));
  for (auto& why : plan.software) EXPECT_NE(why.find("hashes no IPv4"), std::string::npos) << why;
}

TEST(RssPlan, OneWorker_NoPortSpreads) {
  auto plan = plan_rss({nic(128)}, 1);
  EXPECT_EQ(plan.reta_size, 512u);
  EXPECT_NE(plan.software[0].find("one queue"), std::string::npos);
}

TEST(RssPlan, SmallestRetaSizesTheMirror_AndLargerMultiplesFollowIt) {
  auto plan = plan_rss({nic(512), kRing, nic(128), nic(64)}, 3);
  EXPECT_EQ(plan.reta_size, 64u);
  EXPECT_EQ(plan.rss_hf, (std::vector<uint64_t>{kWantedRss, 0, kWantedRss, kWantedRss}));
  EXPECT_TRUE(plan.software[0].empty());
  EXPECT_FALSE(plan.software[1].empty());
  EXPECT_TRUE(plan.software[2].empty());
  EXPECT_TRUE(plan.software[3].empty());
}

TEST(RssPlan, RetaNotAMultipleOfTheMirror_PortGoesToSoftware) {
  auto plan = plan_rss({nic(64), nic(96)}, 4);
  EXPECT_EQ(plan.reta_size, 64u);
  EXPECT_TRUE(plan.software[0].empty());
  EXPECT_NE(plan.software[1].find("RETA of 96 entries is not a multiple of the 64-entry mirror"), std::string::npos)
      << plan.software[1];
}

TEST(RssPlan, PortFieldsIntersect_SoftwareHashesWhatEveryRssPortHashes) {
  auto plan = plan_rss({nic(128), nic(128, kNoUdp | RTE_ETH_RSS_NONFRAG_IPV4_SCTP)}, 2);
  EXPECT_EQ(plan.rss_hf, (std::vector<uint64_t>{kNoUdp, kNoUdp}));  // SCTP never asked
  EXPECT_EQ(plan.fields, (redline::rss::HashFields{true, false}));
  EXPECT_TRUE(plan.software[0].empty() && plan.software[1].empty());
}

TEST(RssPlan, AddressOnlyTypesMayDiffer_EachPortKeepsItsOwn) {
  // ixgbe-like: IPV4 covers every IPv4 packet; i40e-like: FRAG_IPV4 and NONFRAG_IPV4_OTHER.
  constexpr uint64_t kL4 = RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP;
  constexpr uint64_t kIxgbe = RTE_ETH_RSS_IPV4 | kL4 | RTE_ETH_RSS_IPV6;
  constexpr uint64_t kI40e = RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER | kL4 | RTE_ETH_RSS_NONFRAG_IPV4_SCTP;
  auto plan = plan_rss({nic(128, kIxgbe), nic(512, kI40e, 52)}, 4);
  EXPECT_EQ(plan.rss_hf[0], RTE_ETH_RSS_IPV4 | kL4);
  EXPECT_EQ(plan.rss_hf[1], RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER | kL4);
  EXPECT_EQ(plan.fields, (redline::rss::HashFields{true, true}));
  EXPECT_EQ(plan.reta_size, 128u);
  EXPECT_TRUE(plan.software[0].empty() && plan.software[1].empty());
}

TEST(RssPlan, PortHashingNobodyElseCanDo_PortGoesToSoftware) {
  auto plan = plan_rss({nic(128, RTE_ETH_RSS_NONFRAG_IPV4_TCP), nic(128, RTE_ETH_RSS_IPV4)}, 2);
  EXPECT_EQ(plan.rss_hf, (std::vector<uint64_t>{0, RTE_ETH_RSS_IPV4}));
  EXPECT_EQ(plan.fields, (redline::rss::HashFields{false, false}));
  EXPECT_NE(plan.software[0].find("other RSS ports cannot hash"), std::string::npos) << plan.software[0];
  EXPECT_TRUE(plan.software[1].empty());
}

TEST(RssPlan, ShortKeyOrNoReta_PortGoesToSoftwareAndDoesNotSizeTheMirror) {
  auto plan = plan_rss({nic(64, kWantedRss, 16), nic(0), nic(256)}, 2);
  EXPECT_EQ(plan.reta_size, 256u);
  EXPECT_NE(plan.software[0].find("hash key of 16 bytes"), std::string::npos) << plan.software[0];
  EXPECT_NE(plan.software[1].find("no redirection table"), std::string::npos) << plan.software[1];
  EXPECT_TRUE(plan.software[2].empty());
}

TEST(RssRefusal, DeviceLackingAnAskedType_IsRefused) {
  EXPECT_NE(rss_refusal(nic(128, kNoUdp), 2, kWantedRss, 128).find("cannot hash types 0x20"), std::string::npos);
  EXPECT_EQ(rss_refusal(nic(128), 2, kNoUdp, 128), "");
  EXPECT_NE(rss_refusal(nic(128), 2, 0, 128), "");
}

TEST(RssHfMismatch, OnlyBitsThatChangeAnIpv4HashCount) {
  EXPECT_EQ(rss_hf_mismatch(kWantedRss, kWantedRss), "");
  EXPECT_EQ(rss_hf_mismatch(kWantedRss, kWantedRss | RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_TCP), "");
  EXPECT_NE(rss_hf_mismatch(kWantedRss, kNoUdp), "");
  EXPECT_NE(rss_hf_mismatch(kWantedRss, kWantedRss | RTE_ETH_RSS_NONFRAG_IPV4_SCTP), "");
  EXPECT_NE(rss_hf_mismatch(kWantedRss, kWantedRss | RTE_ETH_RSS_L3_SRC_ONLY), "");
  EXPECT_NE(rss_hf_mismatch(kWantedRss, kWantedRss | RTE_ETH_RSS_LEVEL_INNERMOST), "");
}
