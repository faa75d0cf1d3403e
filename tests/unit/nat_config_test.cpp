// The [nat] section: every key read, every mistake named with file, line and key, and the
// rules resolved against the ports.
#include <gtest/gtest.h>

#include "dpdk_app/config.hpp"
#include "stack/nat/nat_rules.hpp"

using namespace redline;
using app::parse_config;

namespace {
const std::string kPorts = R"(
[[ports]]
name = "lan"
device = "net_tap0,iface=l"
address = "10.88.1.1/24"
[[ports]]
name = "lan2"
device = "net_tap1,iface=l2"
address = "10.88.4.1/24"
[[ports]]
name = "wan"
device = "net_tap2,iface=w"
address = "10.88.2.1/24"
)";

const std::string kNat = R"(
[nat]
inside = ["lan", "lan2"]
outside = ["wan"]
filtering = "endpoint-independent"
max_sessions = 1000
hairpinning = false
port_preservation = false
[nat.ports]
tcp = "2000-2999"
udp = "3000-3999"
icmp = "1-65535"
[nat.timeouts]
udp = 150
tcp_established = 8000
tcp_transitory = 300
icmp = 90
[[nat.snat]]
source = "10.88.1.0/24"
to = "masquerade"
mss_clamp = 1360
[[nat.snat]]
source = "10.88.4.0/24"
to = ["10.88.2.10", "10.88.2.11"]
[[nat.dnat]]
protocol = "tcp"
external = "10.88.2.1:8080"
internal = "10.88.1.2:80"
[[nat.dnat]]
protocol = "udp"
external = "10.88.2.10:53"
internal = "10.88.4.2:5353"
)";

std::string error_of(const std::string& text) {
  auto r = parse_config(text, "nat.toml");
  EXPECT_FALSE(r.config) << "expected an error for:\n" << text;
  return r.error;
}

std::string with(const std::string& from, const std::string& to) {
  std::string t = kNat;
  const auto at = t.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return kPorts + t.replace(at, from.size(), to);
}
}  // namespace

TEST(NatConfig, ParsesEveryKey) {
  auto r = parse_config(kPorts + kNat, "nat.toml");
  ASSERT_TRUE(r.config) << r.error;
  const nat::NatConfig& n = r.config->nat;
  EXPECT_TRUE(n.enabled);
  EXPECT_EQ(n.inside, (std::vector<std::string>{"lan", "lan2"}));
  EXPECT_EQ(n.outside, (std::vector<std::string>{"wan"}));
  EXPECT_EQ(n.filtering, nat::Filtering::kEndpointIndependent);
  EXPECT_EQ(n.max_sessions, 1000u);
  EXPECT_FALSE(n.hairpinning);
  EXPECT_FALSE(n.port_preservation);
  EXPECT_EQ(n.tcp_ports, (nat::PortRange{2000, 2999}));
  EXPECT_EQ(n.udp_ports, (nat::PortRange{3000, 3999}));
  EXPECT_EQ(n.icmp_ids, (nat::PortRange{1, 65535}));
  EXPECT_EQ(n.timeouts.udp_s, 150u);
  EXPECT_EQ(n.timeouts.tcp_established_s, 8000u);
  EXPECT_EQ(n.timeouts.tcp_transitory_s, 300u);
  EXPECT_EQ(n.timeouts.icmp_s, 90u);
  ASSERT_EQ(n.snat.size(), 2u);
  EXPECT_TRUE(n.snat[0].masquerade);
  EXPECT_EQ(n.snat[0].mss_clamp, 1360);
  EXPECT_FALSE(n.snat[1].masquerade);
  EXPECT_EQ(n.snat[1].pool.size(), 2u);
  ASSERT_EQ(n.dnat.size(), 2u);
  EXPECT_EQ(n.dnat[1].protocol, 17);
  EXPECT_EQ(n.dnat[1].internal_port, 5353);
}

TEST(NatConfig, DefaultsFollowTheRfcs) {
  auto r = parse_config(kPorts + "[nat]\ninside=[\"lan\"]\noutside=[\"wan\"]\n[[nat.snat]]\nsource=\"10.88.1.0/24\"\n", "n");
  ASSERT_TRUE(r.config) << r.error;
  const nat::NatConfig& n = r.config->nat;
  EXPECT_EQ(n.filtering, nat::Filtering::kAddressDependent);
  EXPECT_EQ(n.timeouts.udp_s, 300u);              // RFC 4787 REQ-5
  EXPECT_EQ(n.timeouts.tcp_established_s, 7440u); // RFC 5382 REQ-5
  EXPECT_EQ(n.timeouts.tcp_transitory_s, 240u);
  EXPECT_EQ(n.timeouts.icmp_s, 60u);              // RFC 5508 REQ-1
  EXPECT_TRUE(n.hairpinning);
  EXPECT_TRUE(n.snat[0].masquerade);
}

TEST(NatConfig, NoNatSectionMeansDisabled) {
  auto r = parse_config(kPorts, "n");
  ASSERT_TRUE(r.config);
  EXPECT_FALSE(r.config->nat.enabled);
}

TEST(NatConfig, TimeoutsBelowTheRfcMinimumsAreRefusedUnlessAllowed) {
  EXPECT_NE(error_of(with("udp = 150", "udp = 30")).find("nat.timeouts.udp"), std::string::npos);
  EXPECT_NE(error_of(with("tcp_established = 8000", "tcp_established = 600")).find("RFC minimum"), std::string::npos);
  auto r = parse_config(with("udp = 150", "udp = 3\nrfc_minimums = false"), "n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->nat.timeouts.udp_s, 3u);
}

TEST(NatConfig, MistakesNameFileLineAndKey) {
  const std::string e = error_of(with("inside = [\"lan\", \"lan2\"]", "inside = [\"lan\", \"nope\"]"));
  EXPECT_NE(e.find("nat.toml:"), std::string::npos) << e;
  EXPECT_NE(e.find("nat.inside"), std::string::npos) << e;
  EXPECT_NE(e.find("nope"), std::string::npos) << e;
  EXPECT_NE(error_of(with("outside = [\"wan\"]", "outside = [\"lan\"]")).find("also inside"), std::string::npos);
  EXPECT_NE(error_of(with("filtering = \"endpoint-independent\"", "filtering = \"full-cone\"")).find("nat.filtering"), std::string::npos);
  EXPECT_NE(error_of(with("tcp = \"2000-2999\"", "tcp = \"2999-2000\"")).find("nat.ports.tcp"), std::string::npos);
  EXPECT_NE(error_of(with("tcp = \"2000-2999\"", "tcp = \"80\"")).find("LOW-HIGH"), std::string::npos);
  EXPECT_NE(error_of(with("source = \"10.88.1.0/24\"", "source = \"10.88.1.0\"")).find("nat.snat[0].source"), std::string::npos);
  EXPECT_NE(error_of(with("to = [\"10.88.2.10\", \"10.88.2.11\"]", "to = [\"10.99.0.1\"]")).find("no outside port"), std::string::npos);
  EXPECT_NE(error_of(with("external = \"10.88.2.1:8080\"", "external = \"10.88.2.99:8080\"")).find("nat.dnat[0].external"), std::string::npos);
  EXPECT_NE(error_of(with("internal = \"10.88.1.2:80\"", "internal = \"10.88.2.5:80\"")).find("inside port"), std::string::npos);
  EXPECT_NE(error_of(with("internal = \"10.88.1.2:80\"", "internal = \"10.88.1.2\"")).find("ADDRESS:PORT"), std::string::npos);
  EXPECT_NE(error_of(with("protocol = \"tcp\"", "protocol = \"sctp\"")).find("nat.dnat[0].protocol"), std::string::npos);
  EXPECT_NE(error_of(with("max_sessions = 1000", "max_sessions = 1000\ncolour = 1")).find("unknown key"), std::string::npos);
  EXPECT_NE(error_of(with("protocol = \"udp\"\nexternal = \"10.88.2.10:53\"", "protocol = \"tcp\"\nexternal = \"10.88.2.1:8080\""))
                .find("forwarded twice"),
            std::string::npos);
}

TEST(NatRules, ResolvedAgainstThePorts) {
  auto r = parse_config(kPorts + kNat, "nat.toml");
  ASSERT_TRUE(r.config);
  std::vector<nat::PortAddress> ports;
  for (const auto& p : r.config->ports) ports.push_back({p.name, p.address});
  std::string error;
  auto rules = nat::NatRules::resolve(r.config->nat, ports, &error);
  ASSERT_TRUE(rules) << error;
  EXPECT_TRUE(rules->inside(0));
  EXPECT_TRUE(rules->inside(1));
  EXPECT_TRUE(rules->outside(2));
  EXPECT_FALSE(rules->outside(0));
  auto be = [](const char* a) { return net::to_be(net::Ipv4Addr::parse(a)->value); };
  // The outside port's address first, then the pool.
  ASSERT_EQ(rules->externals().size(), 3u);
  EXPECT_EQ(rules->external_index(be("10.88.2.1")), 0);
  EXPECT_EQ(rules->external_index(be("10.88.2.11")), 2);
  EXPECT_EQ(rules->external_index(be("10.88.2.99")), -1);
  const nat::SnatRule* lan = rules->snat_for(be("10.88.1.7"));
  ASSERT_TRUE(lan);
  EXPECT_EQ(rules->external_for(*lan, be("10.88.1.7"), 2), 0);  // masquerade: the port's address
  const nat::SnatRule* lan2 = rules->snat_for(be("10.88.4.7"));
  ASSERT_TRUE(lan2);
  // RFC 4787 REQ-2: one inside host, always the same pool address.
  const int first = rules->external_for(*lan2, be("10.88.4.7"), 2);
  EXPECT_GE(first, 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(rules->external_for(*lan2, be("10.88.4.7"), 2), first);
  EXPECT_FALSE(rules->snat_for(be("10.88.2.5")));
  EXPECT_TRUE(rules->dnat_to(6, be("10.88.2.1"), net::to_be(uint16_t(8080))));
  EXPECT_FALSE(rules->dnat_to(17, be("10.88.2.1"), net::to_be(uint16_t(8080))));
  EXPECT_TRUE(rules->dnat_from(17, be("10.88.4.2"), net::to_be(uint16_t(5353))));
}

TEST(NatRules, ExternalIndexFindsEveryAddressOfALargePool) {
  // external_index is a hash probe whose table grows as addresses are added: 300 pool addresses
  // (several doublings) after the outside port's own, each found at its place in order.
  nat::NatConfig c;
  c.enabled = true;
  c.inside = {"lan"};
  c.outside = {"wan"};
  nat::SnatRule rule{*net::Ipv4Prefix::parse("10.1.0.0/16"), false, {}, 0};
  const uint32_t base = net::Ipv4Addr::parse("10.2.0.10")->value;
  for (uint32_t i = 0; i < 300; ++i) rule.pool.push_back(net::Ipv4Addr{base + i});
  c.snat.push_back(rule);
  const std::vector<nat::PortAddress> ports{{"lan", *net::Ipv4Prefix::parse("10.1.0.1/16")},
                                            {"wan", *net::Ipv4Prefix::parse("10.2.0.1/16")}};
  std::string error;
  auto rules = nat::NatRules::resolve(c, ports, &error);
  ASSERT_TRUE(rules) << error;
  ASSERT_EQ(rules->externals().size(), 301u);
  EXPECT_EQ(rules->external_index(net::to_be(net::Ipv4Addr::parse("10.2.0.1")->value)), 0);
  for (uint32_t i = 0; i < 300; ++i) ASSERT_EQ(rules->external_index(net::to_be(base + i)), int(i + 1)) << i;
  EXPECT_EQ(rules->external_index(net::to_be(base + 300)), -1);
  EXPECT_EQ(rules->external_index(net::to_be(net::Ipv4Addr::parse("10.1.0.1")->value)), -1);
  EXPECT_EQ(rules->external_index(0), -1);
}

// One owner per local port (stack/endpoint/claims.hpp): configs where two parts of redline take
// the same port are refused at load, naming the later key and the earlier one.
TEST(LocalEndpoints, ServiceInsideTheNatsRange_IsRefusedNamingBothKeys) {
  auto r = parse_config(kPorts + kNat + "[services]\necho = 2500\n", "nat.toml");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("key 'services.echo'"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("nat.ports.tcp"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("nat.toml:"), std::string::npos) << r.error;
}

TEST(LocalEndpoints, ServiceOnADnatPort_IsRefused) {
  auto r = parse_config(kPorts + kNat + "[services]\ndiscard = 8080\n", "nat.toml");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("key 'services.discard'"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("nat.dnat[0]"), std::string::npos) << r.error;
}

TEST(LocalEndpoints, ConnectClientsWithEphemeralPortsInTheNatsRange_AreRefused_TheDefaultsSplit) {
  const std::string nat_wide = R"(
[nat]
inside = ["lan"]
outside = ["wan"]
[[nat.snat]]
source = "10.88.1.0/24"
)";
  const std::string client = "[[services.connect]]\nto = \"10.88.2.9:80\"\n";
  // The default split: the NAT at 1024-60999, TCP's ephemeral ports at 61000-65535.
  auto ok = parse_config(kPorts + nat_wide + "[services]\n" + client, "nat.toml");
  ASSERT_TRUE(ok.config) << ok.error;
  EXPECT_EQ(ok.config->nat.tcp_ports.high + 1, ok.config->tcp.ephemeral_low);
  auto r = parse_config(kPorts + nat_wide + "[nat.ports]\ntcp = \"1024-65535\"\n[services]\n" + client, "nat.toml");
  ASSERT_FALSE(r.config) << "the NAT's 1024-65535 covers TCP's ephemeral 61000-65535";
  EXPECT_NE(r.error.find("tcp.ephemeral_ports"), std::string::npos) << r.error;
}

TEST(LocalEndpoints, KernelPassRuleOnAServicesPort_IsRefused_CatchAllsClaimNothing) {
  const std::string kernel = "[ports.kernel]\ninterface = \"w-k\"\npass = [\"tcp:7\"]\n";
  auto r = parse_config(kPorts + kernel + "[services]\necho = 7\n", "k.toml");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("ports[2].kernel.pass"), std::string::npos) << r.error;
  const std::string catch_all = "[ports.kernel]\ninterface = \"w-k\"\npass = [\"all\", \"tcp:*\"]\n";
  auto ok = parse_config(kPorts + catch_all + "[services]\necho = 7\n", "k.toml");
  EXPECT_TRUE(ok.config) << ok.error;
}

TEST(NatConfig, HostLimitsPortBlocksAndTheLog) {
  auto r = parse_config(with("[[nat.snat]]",
                             "[nat.limits]\nsessions_per_host = 500\nports_per_host = 256\nport_block_size = 64\n"
                             "[nat.log]\nfile = \"/var/log/redline-nat.log\"\nsyslog = true\n[[nat.snat]]"),
                        "n");
  ASSERT_TRUE(r.config) << r.error;
  const nat::NatConfig& n = r.config->nat;
  EXPECT_EQ(n.limits.sessions, 500u);
  EXPECT_EQ(n.limits.ports, 256u);
  EXPECT_EQ(n.limits.block_size, 64u);
  EXPECT_TRUE(n.limits.on());
  EXPECT_EQ(n.log.file, "/var/log/redline-nat.log");
  EXPECT_TRUE(n.log.syslog);
  auto plain = parse_config(kPorts + kNat, "n");
  ASSERT_TRUE(plain.config);
  EXPECT_FALSE(plain.config->nat.limits.on()) << "off unless asked for";
  EXPECT_FALSE(plain.config->nat.log.on());
}

TEST(NatConfig, HostLimitMistakesAreNamed) {
  auto limits = [](const std::string& body) { return with("[[nat.snat]]", "[nat.limits]\n" + body + "\n[[nat.snat]]"); };
  EXPECT_NE(error_of(limits("ports_per_host = 32\nport_block_size = 64")).find("less than one port block"),
            std::string::npos);
  // nat.ports.udp is 3000-3999: a block of 2000 fits no worker's share.
  EXPECT_NE(error_of(limits("port_block_size = 2000")).find("one worker's share of nat.ports.tcp"), std::string::npos);
  EXPECT_NE(error_of(limits("sessions_per_host = 0")).find("nat.limits.sessions_per_host"), std::string::npos);
  EXPECT_NE(error_of(limits("sessions = 5")).find("sessions"), std::string::npos);
  EXPECT_NE(error_of(with("[[nat.snat]]", "[nat.log]\nfile = \"\"\n[[nat.snat]]")).find("nat.log.file"),
            std::string::npos);
}
