// What the kernel exception path passes ([ports.kernel] pass).
#include <gtest/gtest.h>

#include "dpdk_app/config.hpp"
#include "stack/ip/pass_rules.hpp"

using redline::ip::PassRules;

namespace {
PassRules rules(const std::vector<std::string>& e) {
  std::string error;
  auto r = PassRules::parse(e, &error);
  EXPECT_TRUE(r) << error;
  return r ? *r : PassRules{};
}
std::string error_of(const std::vector<std::string>& e) {
  std::string error;
  EXPECT_FALSE(PassRules::parse(e, &error));
  return error;
}
}  // namespace

TEST(PassRules, PortsAndRangesPassOnlyTheirProtocol) {
  PassRules r = rules({"tcp:22", "tcp:179", "udp:67-68"});
  EXPECT_TRUE(r.matches(6, 40000, 22, false));
  EXPECT_TRUE(r.matches(6, 40000, 179, false));
  EXPECT_FALSE(r.matches(6, 40000, 23, false));
  EXPECT_FALSE(r.matches(17, 40000, 22, false));
  EXPECT_TRUE(r.matches(17, 40000, 67, false));
  EXPECT_TRUE(r.matches(17, 40000, 68, false));
  EXPECT_FALSE(r.matches(17, 40000, 69, false));
  EXPECT_FALSE(r.matches(89, 40000, 0, false));
  EXPECT_TRUE(r.any());
  // The replies of a connection the kernel opened to a peer's 179 come from 179 ...
  EXPECT_TRUE(r.matches(6, 179, 51234, true));
  // ... but a new connection from source port 179 reaches no other listener.
  EXPECT_FALSE(r.matches(6, 179, 51234, false));
  EXPECT_FALSE(r.matches(6, 51234, 51235, true));
  EXPECT_FALSE(r.matches(17, 67, 51234, false));
}

TEST(PassRules, WildcardsProtocolsAndAll) {
  PassRules r = rules({"udp:*", "proto:89"});
  EXPECT_TRUE(r.matches(17, 40000, 0, false));
  EXPECT_TRUE(r.matches(17, 40000, 65535, false));
  EXPECT_FALSE(r.matches(6, 40000, 80, false));
  EXPECT_TRUE(r.matches(89, 40000, 0, false));
  PassRules all = rules({"all"});
  EXPECT_TRUE(all.matches(6, 40000, 1, false));
  EXPECT_TRUE(all.matches(47, 40000, 0, false));
  EXPECT_FALSE(rules({}).any());
}

TEST(PassRules, MistakesNameTheEntry) {
  EXPECT_NE(error_of({"tcp"}).find("'tcp'"), std::string::npos);
  EXPECT_NE(error_of({"tcp:70000"}).find("0-65535"), std::string::npos);
  EXPECT_NE(error_of({"tcp:80-22"}).find("low to high"), std::string::npos);
  EXPECT_NE(error_of({"sctp:22"}).find("'sctp:22'"), std::string::npos);
  EXPECT_NE(error_of({"proto:300"}).find("0-255"), std::string::npos);
  EXPECT_NE(error_of({"proto:6"}).find("tcp:*"), std::string::npos);
  EXPECT_NE(error_of({"udp:5x"}).find("not a number"), std::string::npos);
}

TEST(PassRules, KernelSectionOfAPortIsReadAndChecked) {
  const std::string port = "[[ports]]\nname = \"a\"\ndevice = \"net_tap0,iface=x\"\naddress = \"10.0.0.1/24\"\n";
  auto ok = redline::app::parse_config(port + "[ports.kernel]\ninterface = \"rl-k\"\npass = [\"tcp:22\"]\n", "k.toml");
  ASSERT_TRUE(ok.config) << ok.error;
  ASSERT_TRUE(ok.config->ports[0].kernel);
  EXPECT_EQ(ok.config->ports[0].kernel->interface, "rl-k");
  auto bad = redline::app::parse_config(port + "[ports.kernel]\ninterface = \"rl-k\"\npass = [\"tcp:x\"]\n", "k.toml");
  ASSERT_FALSE(bad.config);
  EXPECT_NE(bad.error.find("k.toml:"), std::string::npos) << bad.error;
  EXPECT_NE(bad.error.find("ports[0].kernel.pass"), std::string::npos) << bad.error;
  auto long_name = redline::app::parse_config(port + "[ports.kernel]\ninterface = \"a-very-long-name-x\"\npass = [\"all\"]\n", "k");
  ASSERT_FALSE(long_name.config);
  EXPECT_NE(long_name.error.find("ports[0].kernel.interface"), std::string::npos);
}
