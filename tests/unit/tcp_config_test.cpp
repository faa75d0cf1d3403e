// The [tcp] and [services] sections: every key read, every mistake named by file, line and key.
#include <gtest/gtest.h>

#include "dpdk_app/config.hpp"

using redline::app::parse_config;

namespace {

const char* kPorts = R"(
[[ports]]
name = "a"
device = "net_tap0,iface=rl-a"
address = "10.77.1.1/24"
)";

std::string error_of(const std::string& text) {
  auto r = parse_config(std::string(kPorts) + text, "tcp.toml");
  EXPECT_FALSE(r.config) << "expected an error for:\n" << text;
  return r.error;
}

TEST(TcpConfig, DefaultsWithoutTheSections) {
  auto r = parse_config(kPorts, "tcp.toml");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->tcp, redline::tcp::Settings{});
  EXPECT_EQ(r.config->services, redline::services::ServicesConfig{});
}

TEST(TcpConfig, ParsesEveryKey) {
  auto r = parse_config(std::string(kPorts) + R"(
[tcp]
max_connections = 1000
time_wait_max = 100
syn_backlog = 64
min_rto_ms = 50
max_rto_ms = 5000
initial_rto_ms = 300
delayed_ack_ms = 10
time_wait_ms = 2000
fin_wait2_ms = 3000
syn_retries = 2
synack_retries = 3
retries = 4
recv_buffer = 65536
send_buffer = 32768
ooo_max_segments = 8
sack = false
timestamps = false
window_scaling = false
tail_loss_probe = false
zero_copy_send = false
ephemeral_ports = "40000-40100"
[tcp.keepalive]
enabled = true
idle_s = 5
interval_s = 2
probes = 3
[services]
echo = 7
discard = 9
source = 19
source_bytes = 1234
nodelay = true
[[services.connect]]
to = "10.77.2.2:5001"
connections = 8
send_bytes = 1048576
start_after_ms = 100
)",
                        "tcp.toml");
  ASSERT_TRUE(r.config) << r.error;
  const redline::tcp::Settings& t = r.config->tcp;
  EXPECT_EQ(t.max_connections, 1000u);
  EXPECT_EQ(t.time_wait_max, 100u);
  EXPECT_EQ(t.syn_backlog, 64u);
  EXPECT_EQ(t.min_rto_ms, 50u);
  EXPECT_EQ(t.max_rto_ms, 5000u);
  EXPECT_EQ(t.initial_rto_ms, 300u);
  EXPECT_EQ(t.delayed_ack_ms, 10u);
  EXPECT_EQ(t.time_wait_ms, 2000u);
  EXPECT_EQ(t.fin_wait2_ms, 3000u);
  EXPECT_EQ(t.syn_retries, 2u);
  EXPECT_EQ(t.synack_retries, 3u);
  EXPECT_EQ(t.retries, 4u);
  EXPECT_EQ(t.recv_buffer, 65536u);
  EXPECT_EQ(t.send_buffer, 32768u);
  EXPECT_EQ(t.ooo_max_segments, 8u);
  EXPECT_FALSE(t.sack || t.timestamps || t.window_scaling || t.tail_loss_probe || t.zero_copy_send);
  EXPECT_EQ(t.ephemeral_low, 40000);
  EXPECT_EQ(t.ephemeral_high, 40100);
  EXPECT_EQ(t.keepalive, (redline::tcp::Keepalive{true, 5, 2, 3}));
  const redline::services::ServicesConfig& s = r.config->services;
  EXPECT_EQ(s.echo, 7);
  EXPECT_EQ(s.discard, 9);
  EXPECT_EQ(s.source, 19);
  EXPECT_EQ(s.source_bytes, 1234u);
  EXPECT_TRUE(s.nodelay);
  ASSERT_EQ(s.connect.size(), 1u);
  EXPECT_EQ(s.connect[0].ip.to_string(), "10.77.2.2");
  EXPECT_EQ(s.connect[0].port, 5001);
  EXPECT_EQ(s.connect[0].connections, 8u);
  EXPECT_EQ(s.connect[0].send_bytes, 1048576u);
  EXPECT_EQ(s.connect[0].start_after_ms, 100u);
}

TEST(TcpConfig, Mistakes_AreNamedByLineAndKey) {
  EXPECT_NE(error_of("[tcp]\nmax_conections = 5\n").find("key 'tcp.max_conections': unknown key"), std::string::npos);
  EXPECT_NE(error_of("[tcp]\ndelayed_ack_ms = 600\n").find("tcp.delayed_ack_ms': must be between 1 and 500"),
            std::string::npos);
  EXPECT_NE(error_of("[tcp]\nsack = 1\n").find("tcp.sack': must be true or false"), std::string::npos);
  EXPECT_NE(error_of("[tcp]\nmin_rto_ms = 9000\nmax_rto_ms = 2000\n").find("tcp.min_rto_ms': must not exceed"),
            std::string::npos);
  EXPECT_NE(error_of("[tcp]\nephemeral_ports = \"60000-50000\"\n").find("tcp.ephemeral_ports"), std::string::npos);
  EXPECT_NE(error_of("[tcp]\nephemeral_ports = \"1-2-3\"\n").find("tcp.ephemeral_ports"), std::string::npos);
  EXPECT_NE(error_of("[tcp]\nrecv_buffer = 100\n").find("tcp.recv_buffer"), std::string::npos);
  EXPECT_NE(error_of("[tcp.keepalive]\nidle = 5\n").find("tcp.keepalive.idle': unknown key"), std::string::npos);
  EXPECT_NE(error_of("[services]\necho = 7\ndiscard = 7\n").find("services.discard': port 7 is services.echo's too"),
            std::string::npos);
  EXPECT_NE(error_of("[services]\necho = 70000\n").find("services.echo"), std::string::npos);
  EXPECT_NE(error_of("[[services.connect]]\nto = \"10.77.2.2\"\n").find("services.connect[0].to': '10.77.2.2' is not"),
            std::string::npos);
  EXPECT_NE(error_of("[[services.connect]]\nto = \"10.77.2.2:0\"\n").find("services.connect[0].to"), std::string::npos);
  EXPECT_NE(error_of("[[services.connect]]\nconnections = 2\n").find("services.connect[0].to': missing"),
            std::string::npos);
  const std::string e = error_of("[tcp]\nretries = 0\n");
  EXPECT_NE(e.find("tcp.toml:7:"), std::string::npos) << e;
}

}  // namespace

namespace {
TEST(TcpConfig, Congestion_NamesAnAlgorithm) {
  auto r = parse_config(std::string(kPorts) + "[tcp]\ncongestion = \"cubic\"\n", "tcp.toml");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->tcp.congestion, redline::tcp::Congestion::kCubic);
  EXPECT_NE(error_of("[tcp]\ncongestion = \"bbr\"\n").find("tcp.congestion': 'bbr' is neither"), std::string::npos);
}
}  // namespace
