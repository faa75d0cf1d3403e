// The control socket with real unix sockets and no redline behind it: a command table with one
// command, the server polled from the test's thread while clients connect from other threads.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "dpdk_app/control/server.hpp"

using namespace redline::control;

namespace {
struct ServerFixture : ::testing::Test {
  std::string dir = "/tmp/rl-ctl-test-" + std::to_string(getpid());
  std::string path = dir + "/sub/ctl.sock";
  CommandTable table;
  std::unique_ptr<Server> server;
  std::atomic<bool> stop{false};
  std::thread poller;

  void SetUp() override {
    table.add({"ping", "", {}, [](const Json&) { return Json("pong"); }});
    std::string error;
    server = Server::open(path, table, &error);
    ASSERT_TRUE(server) << error;
    poller = std::thread([this] {
      while (!stop) server->poll(5);
    });
  }
  void TearDown() override {
    stop = true;
    poller.join();
    server.reset();
    std::filesystem::remove_all(dir);
  }
  int connect_client() const {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path.c_str());
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  static std::string read_line(int fd) {
    std::string in;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n') in += c;
    return in;
  }
  std::string ask(const std::string& line) const {
    int fd = connect_client();
    std::string out = line + "\n";
    EXPECT_EQ(::write(fd, out.data(), out.size()), ssize_t(out.size()));
    std::string reply = read_line(fd);
    ::close(fd);
    return reply;
  }
};
}  // namespace

TEST_F(ServerFixture, Request_GetsItsReplyLine) {
  EXPECT_EQ(Json::parse(ask(R"({"command": "ping"})"))["result"], "pong");
}

TEST_F(ServerFixture, SocketIsRootsOnly) {
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ServerFixture, SeveralRequestsOnOneConnection_AreAnsweredInOrder) {
  int fd = connect_client();
  std::string two = "{\"command\": \"ping\"}\n{\"command\": \"nope\"}\n";
  ASSERT_EQ(::write(fd, two.data(), two.size()), ssize_t(two.size()));
  EXPECT_TRUE(Json::parse(read_line(fd))["ok"]);
  EXPECT_FALSE(Json::parse(read_line(fd))["ok"]);
  ::close(fd);
}

TEST_F(ServerFixture, StalledClientsDoNotKeepOthersWaiting) {
  int silent = connect_client();  // connects, says nothing
  int half = connect_client();    // half a line, then nothing
  ASSERT_EQ(::write(half, "{\"comm", 6), 6);
  std::vector<std::thread> clients;
  std::atomic<int> answered{0};
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i)
    clients.emplace_back([&] {
      if (Json::parse(ask(R"({"command": "ping"})"))["result"] == "pong") ++answered;
    });
  for (auto& c : clients) c.join();
  EXPECT_EQ(answered, 10);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  ::close(silent);
  ::close(half);
}

TEST_F(ServerFixture, OverlongLine_GetsAnErrorAndTheConnectionCloses) {
  int fd = connect_client();
  std::string big(1 << 20, 'x');
  size_t sent = 0;
  while (sent < big.size()) {
    ssize_t n = ::send(fd, big.data() + sent, big.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close before taking it all
    sent += size_t(n);
  }
  Json reply = Json::parse(read_line(fd));
  EXPECT_FALSE(reply["ok"]);
  EXPECT_NE(reply["error"].get<std::string>().find("longer than"), std::string::npos);
  char c;
  EXPECT_LE(::read(fd, &c, 1), 0) << "closed after the error";
  ::close(fd);
  EXPECT_EQ(Json::parse(ask(R"({"command": "ping"})"))["result"], "pong") << "others still served";
}

TEST_F(ServerFixture, SecondServerOnALiveSocket_IsRefused) {
  std::string error;
  EXPECT_FALSE(Server::open(path, table, &error));
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
}
