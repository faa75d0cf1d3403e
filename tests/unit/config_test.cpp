#include <gtest/gtest.h>

#include "dpdk_app/config.hpp"

using redline::app::parse_config;

namespace {
const char* kGood = R"(
workers = 2
[[ports]]
name = "a"
device = "net_tap0,iface=rl-a"
address = "10.77.1.1/24"
mac = "02:00:00:77:01:01"
[[ports]]
name = "b"
device = "net_tap1,iface=rl-b"
address = "10.77.2.1/24"
mtu = 9000
[[routes]]
prefix = "10.77.3.0/24"
via = "10.77.2.2"
[arp]
retries = 5
probes_per_ms = 8
[ip]
reassembly_datagrams = 256
reassembly_timeout_ms = 500
[icmp]
error_rate = 10
[pipeline]
idle_sleep_us = 20
)";

std::string error_of(const std::string& text) {
  auto r = parse_config(text, "test.toml");
  EXPECT_FALSE(r.config) << "expected an error for:\n" << text;
  return r.error;
}

std::string with_port(const std::string& extra) {
  return "[[ports]]\nname = \"a\"\ndevice = \"net_ring0\"\naddress = \"10.0.0.1/24\"\n" + extra;
}
}  // namespace

TEST(Config, ParsesEveryKey) {
  auto r = parse_config(kGood, "good.toml");
  ASSERT_TRUE(r.config) << r.error;
  const auto& c = *r.config;
  EXPECT_EQ(c.workers, 2u);
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[0].mac->to_string(), "02:00:00:77:01:01");
  EXPECT_EQ(c.ports[1].mtu, 9000);
  EXPECT_EQ(c.ports[1].address.to_string(), "10.77.2.1/24");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].via_text(), "10.77.2.2");
  EXPECT_EQ(c.arp.retries, 5u);
  EXPECT_EQ(c.arp.retry_ms, 1000u);  // default kept
  EXPECT_EQ(c.arp.probes_per_ms, 8u);
  EXPECT_EQ(c.ip.reassembly_datagrams, 256u);
  EXPECT_EQ(c.ip.reassembly_timeout_ms, 500u);
  EXPECT_EQ(c.icmp.error_rate, 10u);
  EXPECT_EQ(c.pipeline.idle_sleep_us, 20u);
}

TEST(Config, LogAndControlKeys_AreParsedAndChecked) {
  auto r = parse_config(with_port("[log]\nlevel = \"debug\"\nfile = \"/tmp/x.log\"\n[control]\nsocket = \"\"\n"
                                  "metrics = \"127.0.0.1:9469\"\n"),
                        "t.toml");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->log.level, "debug");
  EXPECT_EQ(r.config->log.file, "/tmp/x.log");
  EXPECT_EQ(r.config->control.socket, "");
  EXPECT_EQ(r.config->control.metrics, "127.0.0.1:9469");
  EXPECT_NE(error_of(with_port("[log]\nlevel = \"loud\"\n")).find("key 'log.level'"), std::string::npos);
  EXPECT_NE(error_of(with_port("[control]\nmetrics = \"9469\"\n")).find("key 'control.metrics'"), std::string::npos);
  EXPECT_NE(error_of(with_port("[control]\nsocket = \"/" + std::string(120, 'x') + "\"\n")).find("key 'control.socket'"),
            std::string::npos);
}

TEST(Config, ReassemblyLimitsOutOfRange_AreRejectedNamingTheKey) {
  EXPECT_NE(error_of(with_port("[ip]\nreassembly_datagrams = 8\n")).find("key 'ip.reassembly_datagrams'"),
            std::string::npos);
  EXPECT_NE(error_of(with_port("[ip]\nreassembly_timeout_ms = 0\n")).find("key 'ip.reassembly_timeout_ms'"),
            std::string::npos);
  EXPECT_NE(error_of(with_port("[ip]\nreassembly = 1\n")).find("unknown key"), std::string::npos);
}

TEST(Config, SyntaxErrorNamesTheLine) {
  EXPECT_EQ(error_of("[[ports]]\nname = \"a\nx=1").rfind("test.toml:2:", 0), 0u);
}

TEST(Config, MissingPortsIsAnError) {
  EXPECT_NE(error_of("workers = 1\n").find("key 'ports': missing"), std::string::npos);
}

TEST(Config, UnknownKeyIsNamedWithItsLine) {
  std::string e = error_of(with_port("adress = \"x\"\n"));
  EXPECT_NE(e.find("test.toml:5: key 'ports[0].adress': unknown key"), std::string::npos) << e;
}

TEST(Config, BadAddressesAreRejected) {
  for (const char* a : {"10.0.0.1", "10.0.0.0/24", "10.0.0.255/24", "10.0.0.1/31", "banana/24"}) {
    std::string text = "[[ports]]\nname = \"a\"\ndevice = \"net_ring0\"\naddress = \"" + std::string(a) + "\"\n";
    EXPECT_NE(error_of(text).find("key 'ports[0].address'"), std::string::npos) << a;
  }
}

TEST(Config, WrongTypesAndRangesAreRejected) {
  EXPECT_NE(error_of(with_port("mtu = \"big\"\n")).find("must be an integer"), std::string::npos);
  EXPECT_NE(error_of(with_port("mtu = 100\n")).find("between 576 and 9000"), std::string::npos);
  EXPECT_NE(error_of(with_port("mac = \"01:00:5e:00:00:01\"\n")).find("not a unicast MAC"), std::string::npos);
  EXPECT_NE(error_of("workers = 0\n" + with_port("")).find("key 'workers'"), std::string::npos);
  EXPECT_NE(error_of(with_port("[arp]\nretries = 0\n")).find("key 'arp.retries'"), std::string::npos);
  EXPECT_NE(error_of(with_port("[arp]\nqueue_per_neighbor = 0\n")).find("key 'arp.queue_per_neighbor'"),
            std::string::npos);
  EXPECT_NE(error_of(with_port("[pipeline]\nburst = 65\n")).find("key 'pipeline.burst'"), std::string::npos);
}

TEST(Config, RouteGatewayMustBeOnAConnectedNetwork) {
  std::string e = error_of(with_port("[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.1.0.1\"\n"));
  EXPECT_NE(e.find("key 'routes[0].via'"), std::string::npos) << e;
  EXPECT_NE(error_of(with_port("[[routes]]\nprefix = \"10.9.0.0\"\nvia = \"10.0.0.2\"\n")).find("routes[0].prefix"),
            std::string::npos);
}

TEST(Config, DuplicateNamesDevicesAndOverlapsAreRejected) {
  std::string two = with_port("") + "[[ports]]\nname = \"a\"\ndevice = \"net_ring1\"\naddress = \"10.1.0.1/24\"\n";
  EXPECT_NE(error_of(two).find("used twice"), std::string::npos);
  std::string overlap = with_port("") + "[[ports]]\nname = \"b\"\ndevice = \"net_ring1\"\naddress = \"10.0.0.2/16\"\n";
  EXPECT_NE(error_of(overlap).find("overlaps"), std::string::npos);
}

TEST(Config, BurstBelowFour_IsRejectedNamingTheKey) {
  // Vector PMDs return nothing from rx_burst for fewer than 4 packets.
  for (int burst : {0, 1, 3}) {
    std::string e = error_of(with_port("[pipeline]\nburst = " + std::to_string(burst) + "\n"));
    EXPECT_NE(e.find("test.toml:6: key 'pipeline.burst': must be between 4 and 64"), std::string::npos) << e;
  }
  auto ok = parse_config(with_port("[pipeline]\nburst = 4\n"), "test.toml");
  ASSERT_TRUE(ok.config) << ok.error;
  EXPECT_EQ(ok.config->pipeline.burst, 4u);
}

namespace {
// Port a: 10.0.0.1/24 (broadcast 10.0.0.255); port b: 10.1.0.1/16 (broadcast 10.1.255.255).
std::string two_ports_with_route(const std::string& prefix) {
  return with_port("") + "[[ports]]\nname = \"b\"\ndevice = \"net_ring1\"\naddress = \"10.1.0.1/16\"\n" +
         "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.0.0.2\"\n" +
         "[[routes]]\nprefix = \"" + prefix + "\"\nvia = \"10.0.0.2\"\n";
}
constexpr const char* kSecondRoutePrefixLine = "test.toml:13: key 'routes[1].prefix': ";
}  // namespace

TEST(Config, StaticRouteToAPortAddress_IsRejected) {
  for (const char* p : {"10.0.0.1/32", "10.1.0.1/32"}) {
    std::string e = error_of(two_ports_with_route(p));
    EXPECT_NE(e.find(kSecondRoutePrefixLine), std::string::npos) << e;
    EXPECT_NE(e.find("cannot replace a local address"), std::string::npos) << e;
  }
}

TEST(Config, StaticRouteToADirectedBroadcast_IsRejected) {
  for (const char* p : {"10.0.0.255/32", "10.1.255.255/32"}) {
    std::string e = error_of(two_ports_with_route(p));
    EXPECT_NE(e.find(kSecondRoutePrefixLine), std::string::npos) << e;
    EXPECT_NE(e.find("cannot replace a broadcast address"), std::string::npos) << e;
  }
}

TEST(Config, StaticRouteEqualToAConnectedNetwork_IsRejected) {
  for (const char* p : {"10.0.0.0/24", "10.1.0.0/16"}) {
    std::string e = error_of(two_ports_with_route(p));
    EXPECT_NE(e.find(kSecondRoutePrefixLine), std::string::npos) << e;
    EXPECT_NE(e.find("cannot replace a connected route"), std::string::npos) << e;
  }
}

TEST(Config, SecondStaticRouteForTheSamePrefix_IsRejected) {
  std::string e = error_of(two_ports_with_route("10.9.0.0/16"));
  EXPECT_NE(e.find(kSecondRoutePrefixLine), std::string::npos) << e;
  EXPECT_NE(e.find("already routed by routes[0]"), std::string::npos) << e;
}

TEST(Config, StaticRoutesInsideOrAroundConnectedNetworks_AreAccepted) {
  // More specific than a connected network, a host /32 on it, the network address, and prefixes
  // covering a port's network: none replaces a connected, local or broadcast entry.
  for (const char* p : {"10.0.0.128/25", "10.0.0.9/32", "10.0.0.0/32", "10.0.0.0/23", "10.0.0.0/8", "0.0.0.0/0",
                        "10.1.255.254/32"}) {
    auto r = parse_config(two_ports_with_route(p), "test.toml");
    EXPECT_TRUE(r.config) << p << ": " << r.error;
  }
}

TEST(Config, PortImpairment_IsParsedAndCheckedNamingTheKey) {
  auto r = parse_config(with_port("[ports.impair]\nloss_percent = 2.5\nduplicate_percent = 5\ndelay_ms = 20\njitter_ms = 10\n"
                                  "seed = 9\ndirection = \"rx\"\n"),
                        "test.toml");
  ASSERT_TRUE(r.config) << r.error;
  const auto& im = r.config->ports[0].impair;
  EXPECT_DOUBLE_EQ(im.loss, 0.025);
  EXPECT_DOUBLE_EQ(im.duplicate, 0.05);
  EXPECT_EQ(im.delay_us, 20'000u);
  EXPECT_EQ(im.jitter_us, 10'000u);
  EXPECT_EQ(im.seed, 9u);
  EXPECT_TRUE(im.rx && !im.tx);
  EXPECT_TRUE(im.active());
  EXPECT_FALSE(parse_config(with_port(""), "test.toml").config->ports[0].impair.active()) << "off unless configured";
  EXPECT_NE(error_of(with_port("[ports.impair]\nloss_percent = 101\n")).find("key 'ports[0].impair.loss_percent'"),
            std::string::npos);
  EXPECT_NE(error_of(with_port("[ports.impair]\ndelay_ms = 5\njitter_ms = 6\n")).find("key 'ports[0].impair.jitter_ms'"),
            std::string::npos);
  EXPECT_NE(error_of(with_port("[ports.impair]\ndirection = \"up\"\n")).find("key 'ports[0].impair.direction'"),
            std::string::npos);
  EXPECT_NE(error_of(with_port("[ports.impair]\nloss = 1\n")).find("unknown key"), std::string::npos);
}

TEST(Config, EcmpRoute_AnArrayOfGateways) {
  const std::string ports = "[[ports]]\nname = \"a\"\ndevice = \"net_ring0\"\naddress = \"10.0.0.1/24\"\n";
  auto r = parse_config(ports + "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = [\"10.0.0.2\", \"10.0.0.3\"]\n", "ecmp.toml");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->routes[0].via_text(), "10.0.0.2,10.0.0.3");
  r = parse_config(ports + "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = [\"10.0.0.2\", \"10.0.0.2\"]\n", "twice.toml");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("key 'routes[0].via'"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("given twice"), std::string::npos) << r.error;
  r = parse_config(ports + "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = [\"10.0.0.2\", \"10.5.0.3\"]\n", "far.toml");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("gateway 10.5.0.3 is not on the network of any port"), std::string::npos) << r.error;
  r = parse_config(ports + "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = []\n", "empty.toml");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("at least one gateway"), std::string::npos) << r.error;
}

TEST(Config, RuntimeRoute_CommaSeparatedGatewaysAndTheFileRules) {
  auto r = parse_config(with_port(""), "one.toml");
  ASSERT_TRUE(r.config) << r.error;
  std::string error;
  auto route = runtime_route(*r.config, *redline::net::Ipv4Prefix::parse("10.9.0.0/16"), "10.0.0.2,10.0.0.3", &error);
  ASSERT_TRUE(route) << error;
  EXPECT_TRUE(route->runtime);
  EXPECT_EQ(route->via.size(), 2u);
  EXPECT_FALSE(runtime_route(*r.config, *redline::net::Ipv4Prefix::parse("10.9.0.0/16"), "10.0.0.2,", &error));
  EXPECT_NE(error.find("gateways separated by commas"), std::string::npos) << error;
  EXPECT_FALSE(runtime_route(*r.config, *redline::net::Ipv4Prefix::parse("10.0.0.0/24"), "10.0.0.2", &error));
  EXPECT_NE(error.find("connected network"), std::string::npos) << error;
}
