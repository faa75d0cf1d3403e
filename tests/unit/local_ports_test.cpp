// The run-time port registry (endpoint/local_ports.hpp): one picker for the NAT's mappings and
// TCP's connects, steered by the reply's RSS hash, and no port a fixed claim of another part
// holds handed out or listened on.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "stack/endpoint/local_ports.hpp"
#include "stack/net/types.hpp"

using namespace redline;
using endpoint::Claim;
using endpoint::Family;
using endpoint::LocalPorts;
using endpoint::Scope;

namespace {

constexpr uint32_t kOutside = 0x0a580201;  // 10.88.2.1: the NAT's external address
constexpr uint32_t kInside = 0x0a580101;   // 10.88.1.1
constexpr uint8_t kTcp = 6;
const auto kAnyPort = [](uint16_t) { return true; };

// What the NIC computes for a reply: the symmetric Toeplitz hash of the whole tuple, then the RETA.
uint32_t nic_owner(const rss::Toeplitz& t, const rss::RetaMirror& reta, net::FiveTuple reply) {
  uint8_t input[rss::kMaxHashInput];
  const size_t len = rss::tuple_hash_input(reply, rss::HashFields{}, input);
  return reta.owner(t.hash(input, len));
}

}  // namespace

TEST(LocalPorts, ConnectionPortsReplyOnTheWorkerThatTookThem_NeverTwiceOnOneWorker) {
  const rss::Toeplitz toeplitz(rss::symmetric_key());
  const rss::RetaMirror reta(4, 128);
  std::vector<std::unique_ptr<LocalPorts>> workers;
  for (uint32_t w = 0; w < 4; ++w)
    workers.push_back(std::make_unique<LocalPorts>(std::vector<Claim>{}, std::vector<uint32_t>{},
                                                   endpoint::Steering{&toeplitz, &reta, {}, w, 4}));
  std::mt19937 rng(7);
  std::vector<std::set<uint16_t>> taken(4);
  for (int i = 0; i < 2000; ++i) {
    const uint32_t w = rng() % 4;
    const uint32_t remote = net::to_be(uint32_t(0x0a580300 + rng() % 200));
    const uint16_t rport = net::to_be(uint16_t(80 + rng() % 3));
    const endpoint::Picked p = workers[w]->take_for_connection(kTcp, net::to_be(kOutside), remote, rport, {61000, 65535}, kAnyPort);
    ASSERT_NE(p.port, 0) << "after " << i;
    EXPECT_TRUE(p.steered);
    EXPECT_TRUE(taken[w].insert(p.port).second) << "port " << p.port << " given twice by worker " << w;
    EXPECT_EQ(nic_owner(toeplitz, reta, {remote, net::to_be(kOutside), rport, net::to_be(p.port), kTcp, {0, 0, 0}}), w);
  }
}

TEST(LocalPorts, ConnectionPorts_ExhaustThenComeBack) {
  LocalPorts ports({}, {}, {});
  std::vector<uint16_t> got;
  for (int i = 0; i < 4; ++i) {
    const endpoint::Picked p = ports.take_for_connection(kTcp, net::to_be(kInside), 1, 2, {5000, 5003}, kAnyPort);
    ASSERT_NE(p.port, 0);
    got.push_back(p.port);
  }
  EXPECT_EQ(ports.take_for_connection(kTcp, net::to_be(kInside), 1, 2, {5000, 5003}, kAnyPort).port, 0) << "four ports, four taken";
  ports.release_connection_port(kTcp, net::to_be(kInside), got[2]);
  EXPECT_EQ(ports.take_for_connection(kTcp, net::to_be(kInside), 1, 2, {5000, 5003}, kAnyPort).port, got[2]);
  // `usable` refuses a port the caller knows is busy (a listener on it).
  ports.release_connection_port(kTcp, net::to_be(kInside), got[0]);
  EXPECT_EQ(ports.take_for_connection(kTcp, net::to_be(kInside), 1, 2, {5000, 5003}, [&](uint16_t p) { return p != got[0]; }).port, 0);
}

// Issue 21, defect 3: the NAT holding every outside port took the replies of redline's own
// connects from an outside address. The registry now hands a connect no port the NAT holds
// there (counted by the caller), while the same ports on an inside address are free.
TEST(LocalPorts, ConnectSkipsPortsTheNatHoldsOnItsOutsideAddresses) {
  const std::vector<Claim> claims{{kTcp, 1024, 62999, Scope::kNatOutside, Family::kNat, "nat.ports.tcp"}};
  LocalPorts ports(claims, {net::to_be(kOutside)}, {});
  std::set<uint16_t> outside;
  for (;;) {
    const endpoint::Picked p = ports.take_for_connection(kTcp, net::to_be(kOutside), 1, 2, {61000, 65535}, kAnyPort);
    if (!p.port) {
      EXPECT_TRUE(p.refused_by_claim);
      break;
    }
    EXPECT_GE(p.port, 63000) << "a port of the NAT's range";
    outside.insert(p.port);
  }
  EXPECT_EQ(outside.size(), 65535u - 63000 + 1);
  const endpoint::Picked inside = ports.take_for_connection(kTcp, net::to_be(kInside), 1, 2, {61000, 65535}, kAnyPort);
  EXPECT_NE(inside.port, 0);
  EXPECT_FALSE(inside.refused_by_claim);
}

TEST(LocalPorts, ListenersAndBindsAskForEveryAddress) {
  const std::vector<Claim> claims{{kTcp, 1024, 60999, Scope::kNatOutside, Family::kNat, "nat.ports.tcp"},
                                  {17, 53, 53, Scope::kAllAddresses, Family::kKernel, "ports[1].kernel.pass"},
                                  {kTcp, 7, 7, Scope::kAllAddresses, Family::kService, "services.echo"}};
  LocalPorts ports(claims, {net::to_be(kOutside)}, {});
  const Claim* nat = ports.held_by_other(0, kTcp, 8080, Family::kService);
  ASSERT_NE(nat, nullptr) << "a listener on every address would sit on the NAT's outside port 8080";
  EXPECT_EQ(nat->owner, "nat.ports.tcp");
  EXPECT_EQ(ports.held_by_other(0, kTcp, 61000, Family::kService), nullptr) << "above the NAT's range";
  EXPECT_EQ(ports.held_by_other(0, 17, 8080, Family::kService), nullptr) << "the NAT claims no UDP here";
  ASSERT_NE(ports.held_by_other(0, 17, 53, Family::kService), nullptr);
  EXPECT_EQ(ports.held_by_other(0, kTcp, 7, Family::kService), nullptr) << "a family's own claim is no conflict";
  EXPECT_EQ(ports.held_by_other(net::to_be(kInside), kTcp, 8080, Family::kService), nullptr) << "not an outside address";
}

TEST(LocalPorts, NatSharesAreDisjointBlocksAndFallBackToAnyFreePort) {
  const rss::Toeplitz toeplitz(rss::symmetric_key());
  const rss::RetaMirror reta(2, 128);
  LocalPorts w0({}, {}, {&toeplitz, &reta, {}, 0, 2});
  LocalPorts w1({}, {}, {&toeplitz, &reta, {}, 1, 2});
  endpoint::PortShare& a = w0.share(net::to_be(kOutside), kTcp, Family::kNat, {1024, 1031});
  endpoint::PortShare& b = w1.share(net::to_be(kOutside), kTcp, Family::kNat, {1024, 1031});
  EXPECT_EQ(&a, &w0.share(net::to_be(kOutside), kTcp, Family::kNat, {1024, 1031})) << "one share per address and protocol";
  for (uint16_t p = 1024; p <= 1031; ++p) EXPECT_NE(a.contains(p), b.contains(p)) << p;
  // Four ports each: after the steered ones run out, the rest still go (their replies are handed over).
  const net::FiveTuple reply{net::to_be(0x0a580305u), net::to_be(kOutside), net::to_be(uint16_t(80)), 0, kTcp, {0, 0, 0}};
  for (int i = 0; i < 4; ++i) {
    const endpoint::Picked p = w0.pick(a, uint32_t(i), reply, endpoint::Fallback::kAnyFree, kAnyPort);
    ASSERT_NE(p.port, 0);
    EXPECT_TRUE(a.contains(p.port));
    net::FiveTuple arrives = reply;
    arrives.dst_port = net::to_be(p.port);
    EXPECT_EQ(p.steered, nic_owner(toeplitz, reta, arrives) == 0) << p.port;
  }
  EXPECT_EQ(w0.pick(a, 9, reply, endpoint::Fallback::kAnyFree, kAnyPort).port, 0) << "the block is full";
}
