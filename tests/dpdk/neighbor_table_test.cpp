#include <gtest/gtest.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "stack/arp/neighbor_table.hpp"

using namespace redline;
using arp::Neighbor;
using arp::NeighborTable;

namespace {
net::Ipv4Addr addr(const char* s) { return *net::Ipv4Addr::parse(s); }
net::MacAddr mac(const char* s) { return *net::MacAddr::parse(s); }
constexpr uint64_t kSec = 1'000'000'000;
}  // namespace

TEST(NeighborTable, LearnThenLookupGivesMacAndPort) {
  std::string error;
  auto t = NeighborTable::create("nt_learn", 64, 0, nullptr, &error);
  ASSERT_TRUE(t) << error;
  EXPECT_FALSE(t->lookup(addr("10.0.0.2")));
  EXPECT_EQ(t->learn(addr("10.0.0.2"), {mac("02:00:00:00:00:02"), 3}), NeighborTable::Learn::kCreated);
  auto n = t->lookup(addr("10.0.0.2"));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->mac, mac("02:00:00:00:00:02"));
  EXPECT_EQ(n->port, 3);
  EXPECT_EQ(t->learn(addr("10.0.0.2"), {mac("02:00:00:00:00:02"), 3}), NeighborTable::Learn::kUnchanged);
  EXPECT_EQ(t->learn(addr("10.0.0.2"), {mac("02:00:00:00:00:09"), 3}), NeighborTable::Learn::kUpdated);
  EXPECT_EQ(t->lookup(addr("10.0.0.2"))->mac, mac("02:00:00:00:00:09"));
}

TEST(NeighborTable, MergeOnlyUpdatesKnownEntries) {
  std::string error;
  auto t = NeighborTable::create("nt_merge", 64, 0, nullptr, &error);
  EXPECT_FALSE(t->merge(addr("10.0.0.2"), {mac("02:00:00:00:00:02"), 0}));
  EXPECT_FALSE(t->lookup(addr("10.0.0.2")));
  t->learn(addr("10.0.0.2"), {mac("02:00:00:00:00:02"), 0});
  EXPECT_TRUE(t->merge(addr("10.0.0.2"), {mac("02:00:00:00:00:03"), 0}));
  EXPECT_EQ(t->lookup(addr("10.0.0.2"))->mac, mac("02:00:00:00:00:03"));
}

TEST(NeighborTable, RefusesMulticastAndZeroMacs) {
  std::string error;
  auto t = NeighborTable::create("nt_refuse", 64, 0, nullptr, &error);
  EXPECT_EQ(t->learn(addr("10.0.0.2"), {mac("01:00:5e:00:00:01"), 0}), NeighborTable::Learn::kUnchanged);
  EXPECT_EQ(t->learn(addr("10.0.0.3"), {net::MacAddr{}, 0}), NeighborTable::Learn::kUnchanged);
  EXPECT_EQ(t->size(), 0u);
}

TEST(NeighborTable, BulkLookupReportsHitsByBit) {
  std::string error;
  auto t = NeighborTable::create("nt_bulk", 64, 0, nullptr, &error);
  t->learn(addr("10.0.0.2"), {mac("02:00:00:00:00:02"), 1});
  t->learn(addr("10.0.0.4"), {mac("02:00:00:00:00:04"), 2});
  net::Ipv4Addr ips[4] = {addr("10.0.0.1"), addr("10.0.0.2"), addr("10.0.0.3"), addr("10.0.0.4")};
  Neighbor out[4];
  uint64_t hits = t->lookup_bulk(ips, 4, out);
  EXPECT_EQ(hits, 0b1010u);
  EXPECT_EQ(out[1].port, 1);
  EXPECT_EQ(out[3].mac, mac("02:00:00:00:00:04"));
}

TEST(NeighborTable, FullTableRefusesNewEntries) {
  std::string error;
  auto t = NeighborTable::create("nt_full", 16, 0, nullptr, &error);
  int created = 0, full = 0;
  for (uint32_t i = 1; i <= 40; ++i) {
    auto r = t->learn(net::Ipv4Addr{0x0a000000u + i}, {mac("02:00:00:00:00:02"), 0});
    created += r == NeighborTable::Learn::kCreated;
    full += r == NeighborTable::Learn::kFull;
  }
  EXPECT_EQ(created, 16);
  EXPECT_EQ(full, 24);
}

TEST(NeighborTable, UnreachableMarkIsSeenByReadersAndReplacedByAnAnswer) {
  std::string error;
  auto t = NeighborTable::create("nt_unreach", 64, 0, nullptr, &error);
  ASSERT_TRUE(t->mark_unreachable(addr("10.0.0.2")));
  auto n = t->lookup(addr("10.0.0.2"));
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->unreachable());
  EXPECT_EQ(t->learn(addr("10.0.0.2"), {mac("02:00:00:00:00:02"), 1}), NeighborTable::Learn::kUpdated);
  n = t->lookup(addr("10.0.0.2"));
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->unreachable());
  EXPECT_EQ(n->port, 1);
}

TEST(NeighborTable, DeletedSlotsAreReusedAfterRcuGracePeriod) {
  size_t size = rte_rcu_qsbr_get_memsize(1);
  auto* qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("nt_qsbr", size, 64));
  ASSERT_EQ(rte_rcu_qsbr_init(qsbr, 1), 0);
  rte_rcu_qsbr_thread_register(qsbr, 0);
  rte_rcu_qsbr_thread_online(qsbr, 0);
  std::string error;
  auto t = NeighborTable::create("nt_rcu", 16, 0, qsbr, &error);
  ASSERT_TRUE(t) << error;
  // Fill, delete all, and fill again many times: slots must come back once the reader (this
  // thread) reports quiescent.
  for (int round = 0; round < 20; ++round) {
    for (uint32_t i = 1; i <= 16; ++i)
      ASSERT_NE(t->learn(net::Ipv4Addr{0x0a000000u + i}, {mac("02:00:00:00:00:02"), 0}), NeighborTable::Learn::kFull)
          << "round " << round << " entry " << i;
    for (uint32_t i = 1; i <= 16; ++i) t->remove(net::Ipv4Addr{0x0a000000u + i});
    rte_rcu_qsbr_quiescent(qsbr, 0);
  }
  t.reset();
  rte_rcu_qsbr_thread_offline(qsbr, 0);
  rte_free(qsbr);
}
