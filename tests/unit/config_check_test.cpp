// What `redline --check` refuses before EAL starts (issue 22): each a clear error with the file,
// the line and the key, where earlier it passed the check and failed at start (or never).
#include <gtest/gtest.h>

#include <string>

#include "dpdk_app/config.hpp"

using namespace redline;
using app::parse_config;

namespace {

const std::string kTwoPorts = R"(
[[ports]]
name = "lan"
device = "net_tap0,iface=l"
address = "10.88.1.1/24"
[[ports]]
name = "wan"
device = "net_tap1,iface=w"
address = "10.88.2.1/24"
)";

// The error of a config that must be refused ("" if it was accepted).
std::string refusal(const std::string& text, const app::HostFacts& facts = {}) {
  auto r = parse_config(text, "c.toml", facts);
  return r.config ? std::string() : r.error;
}

}  // namespace

TEST(ConfigCheck, RoutePrefixWithHostBits_IsRefusedNamingTheNetwork) {
  const std::string e = refusal(kTwoPorts + "[[routes]]\nprefix = \"10.99.3.7/16\"\nvia = \"10.88.2.2\"\n");
  EXPECT_NE(e.find("c.toml:"), std::string::npos) << e;
  EXPECT_NE(e.find("routes[0].prefix"), std::string::npos) << e;
  EXPECT_NE(e.find("10.99.0.0/16"), std::string::npos) << e;
  EXPECT_EQ(refusal(kTwoPorts + "[[routes]]\nprefix = \"10.99.0.0/16\"\nvia = \"10.88.2.2\"\n"), "");
}

TEST(ConfigCheck, SnatRuleAnEarlierRuleShadows_IsRefused) {
  const std::string nat = "[nat]\ninside = [\"lan\"]\noutside = [\"wan\"]\n";
  const std::string wide_first = nat + "[[nat.snat]]\nsource = \"10.88.1.0/24\"\n[[nat.snat]]\nsource = \"10.88.1.128/25\"\nto = \"10.88.2.9\"\n";
  const std::string e = refusal(kTwoPorts + wide_first);
  EXPECT_NE(e.find("nat.snat[1].source"), std::string::npos) << e;
  EXPECT_NE(e.find("nat.snat[0]"), std::string::npos) << e;
  const std::string narrow_first = nat + "[[nat.snat]]\nsource = \"10.88.1.128/25\"\nto = \"10.88.2.9\"\n[[nat.snat]]\nsource = \"10.88.1.0/24\"\n";
  EXPECT_EQ(refusal(kTwoPorts + narrow_first), "") << "the narrower rule first is what an operator means";
}

TEST(ConfigCheck, MetricsOnAHostName_IsRefusedAsTheMetricsServerWould) {
  const std::string e = refusal(kTwoPorts + "[control]\nmetrics = \"localhost:9469\"\n");
  EXPECT_NE(e.find("control.metrics"), std::string::npos) << e;
  EXPECT_NE(e.find("host names"), std::string::npos) << e;
  EXPECT_NE(refusal(kTwoPorts + "[control]\nmetrics = \"127.0.0.1:0\"\n").find("not 1-65535"), std::string::npos);
  EXPECT_EQ(refusal(kTwoPorts + "[control]\nmetrics = \"[::1]:9469\"\n"), "");
}

TEST(ConfigCheck, NatRangeOverTheKernelsEphemeralPortsOnAnOutsidePortWithAKernelPath_IsRefused) {
  // [ports.kernel] after the last [[ports]] belongs to it: wan, the NAT's outside port.
  const std::string wan_kernel = kTwoPorts + "[ports.kernel]\ninterface = \"w-k\"\npass = [\"tcp:179\"]\n" +
                                 "[nat]\ninside = [\"lan\"]\noutside = [\"wan\"]\n[[nat.snat]]\nsource = \"10.88.1.0/24\"\n";
  const std::string e = refusal(wan_kernel);
  EXPECT_NE(e.find("nat.ports.tcp"), std::string::npos) << e;
  EXPECT_NE(e.find("32768-60999"), std::string::npos) << e;
  // The machine's own range is what counts.
  app::HostFacts narrow;
  narrow.ephemeral_low = 61000;
  narrow.ephemeral_high = 61999;
  EXPECT_EQ(refusal(wan_kernel, narrow), "") << "a kernel on 61000-61999 is clear of the NAT's default 1024-60999";
  const std::string split = wan_kernel + "[nat.ports]\ntcp = \"1024-32767\"\nudp = \"1024-32767\"\n";
  EXPECT_EQ(refusal(split), "");
}

TEST(ConfigCheck, UnreadableFile_SaysWhy) {
  auto r = app::load_config("/nonexistent/redline.toml");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("No such file or directory"), std::string::npos) << r.error;
}
