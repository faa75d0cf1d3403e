// Port bring-up on a real ethdev without RSS (net_ring): probe() reports what it offers, the
// plan leaves it to software ownership, and configure_and_start says why it is not RSS.
#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "drivers/port.hpp"
#include "drivers/rss_plan.hpp"

using namespace redline;

namespace {
uint16_t two_queue_ring_port(const char* name) {
  rte_ring* rings[4];
  for (int i = 0; i < 4; ++i)
    rings[i] = rte_ring_create((std::string(name) + "_" + std::to_string(i)).c_str(), 256, 0,
                               RING_F_SP_ENQ | RING_F_SC_DEQ);
  int id = rte_eth_from_rings(name, rings, 2, rings + 2, 2, 0);
  EXPECT_GE(id, 0);
  return uint16_t(id);
}
}  // namespace

TEST(Port, RingPortWithTwoQueues_IsProbedPlannedAndStartedAsSoftwareOwned) {
  static rte_mempool* pool = rte_pktmbuf_pool_create("port_test_pool", 1024, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  ASSERT_NE(pool, nullptr);
  uint16_t id = two_queue_ring_port("port_test_ring");
  std::string error;

  auto probe = drivers::probe(id, &error);
  ASSERT_TRUE(probe) << error;
  EXPECT_EQ(probe->driver, "net_ring");
  EXPECT_GE(probe->max_rx_queues, 2);
  EXPECT_EQ(probe->rss.reta_size, 0);

  auto plan = drivers::plan_rss({probe->rss}, 2);
  EXPECT_EQ(plan.rss_hf[0], 0u);
  EXPECT_EQ(plan.reta_size, rss::RetaMirror::kDefaultSize);
  EXPECT_FALSE(plan.software[0].empty());

  rss::RetaMirror mirror(2, plan.reta_size);
  drivers::PortRequest req{"r", "", std::nullopt, 1500, 2, 256, 256, plan.rss_hf[0]};
  auto ready = drivers::configure_and_start(id, req, pool, mirror, &error);
  ASSERT_TRUE(ready) << error;
  EXPECT_FALSE(ready->rss);
  EXPECT_FALSE(ready->rss_note.empty());
  EXPECT_EQ(ready->rss_hf, 0u);
  drivers::stop_and_close(id);
}

TEST(Port, MtuLargerThanTheMbufDataRoom_IsRefusedWithTheReason) {
  // Received frames are never chained (classify_stage.cpp): a pool that cannot hold a whole
  // 9000-byte frame is a set-up error, not a silent drop later.
  static rte_mempool* pool = rte_pktmbuf_pool_create("port_small_pool", 512, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  ASSERT_NE(pool, nullptr);
  uint16_t id = two_queue_ring_port("port_test_jumbo");
  std::string error;
  rss::RetaMirror mirror(1);
  drivers::PortRequest req{"j", "", std::nullopt, 9000, 1, 256, 256};
  EXPECT_FALSE(drivers::configure_and_start(id, req, pool, mirror, &error));
  EXPECT_NE(error.find("data room"), std::string::npos) << error;
  EXPECT_NE(error.find("MTU 9000"), std::string::npos) << error;
  drivers::stop_and_close(id);
}
