// Fuzz target: the control socket's protocol (dpdk_app/control/): request lines as any local
// client may write them, through CommandTable::execute and through the real Server on a unix
// socket, which frames the lines.
//
// The command table has redline's rows as App::register_commands declares them (names and
// argument specs); their handlers here check their arguments with the same pure code the real
// ones use (net::Ipv4Prefix / Ipv4Addr parsing, app::static_route_problem against a config read
// by parse_config) and stop there, since the real handlers reach DPDK (route table, ARP ring).
// Some handlers throw as a handler may (CommandError, another std::exception).
//
// Input: the request bytes; a first byte of 0xff makes the rest one line past the 64 KiB limit.
// Asserted, for every line the server would answer (split at '\n', a trailing '\r' dropped,
// empty lines skipped):
//  - execute() returns {"ok": true, "result": ...} or {"ok": false, "error": "non-empty"}, never
//    throws, and its reply dumps to one line of JSON that parses back to the same value (the
//    server writes dump() + "\n": a reply that throws in dump() would end the control thread);
//  - the server answers exactly those lines, in order, with exactly those replies, then closes
//    when the client has closed its side (a partial last line is not answered).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dpdk_app/config.hpp"
#include "dpdk_app/control/command_table.hpp"
#include "dpdk_app/control/server.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace redline;
using control::ArgSpec;
using control::CommandError;
using control::Json;

namespace {

// Two ports and a static route: what "route add" is judged against.
constexpr const char* kConfig = R"(
[[ports]]
name = "a"
device = "net_ring0"
address = "10.77.1.1/24"
[[ports]]
name = "b"
device = "net_ring1"
address = "10.77.2.1/24"
[[routes]]
prefix = "10.77.3.0/24"
via = "10.77.2.2"
)";

const app::Config& config() {
  static const app::Config c = *app::parse_config(kConfig, "control.toml").config;
  return c;
}

// As dpdk_app/app_commands.cpp reads a prefix argument.
net::Ipv4Prefix prefix_arg(const Json& args, const char* name) {
  const std::string text = args.at(name);
  auto p = net::Ipv4Prefix::parse(text);
  if (!p || text.find('/') == std::string::npos) throw CommandError("'" + text + "' is not a prefix like 10.1.0.0/16");
  return {p->network(), p->length};
}

control::CommandTable make_table() {
  using T = ArgSpec::Type;
  control::CommandTable t;
  t.add({"show counters", "", {{"core", T::kInt, false, ""}, {"nonzero", T::kBool, false, ""}}, [](const Json& a) {
           if (a.contains("core")) {
             const int64_t c = a["core"];
             if (c < 0 || c >= 2) throw CommandError("no worker " + std::to_string(c) + " (workers 0-1)");
           }
           return Json{{"nonzero", a.value("nonzero", false)}};
         }});
  for (const char* name : {"show ports", "show routes", "show neighbors", "show workers", "show nat", "show tcp",
                           "show connections", "show config"})
    t.add({name, "", {}, [](const Json&) { return Json::array(); }});
  t.add({"route add", "", {{"prefix", T::kString, true, ""}, {"via", T::kString, true, ""}}, [](const Json& a) {
           const net::Ipv4Prefix prefix = prefix_arg(a, "prefix");
           std::string error;
           auto route = app::runtime_route(config(), prefix, a.at("via"), &error);
           if (!route) throw CommandError(error);
           return Json{{"added", prefix.to_string()}, {"via", route->via_text()}};
         }});
  t.add({"route del", "", {{"prefix", T::kString, true, ""}}, [](const Json& a) {
           const net::Ipv4Prefix prefix = prefix_arg(a, "prefix");
           for (const app::RouteConfig& r : config().routes)
             if (r.same_prefix(prefix))
               return Json{{"removed", prefix.to_string()}};
           throw CommandError("no static route for " + prefix.to_string());
         }});
  t.add({"neighbor flush", "", {{"ip", T::kString, false, ""}}, [](const Json& a) {
           if (!a.contains("ip")) return Json{{"flushing", "all neighbors"}};
           const std::string text = a["ip"];
           auto ip = net::Ipv4Addr::parse(text);
           if (!ip) throw CommandError("'" + text + "' is not an IPv4 address");
           return Json{{"flushing", ip->to_string()}};
         }});
  // A handler failing the way library code can: not a CommandError.
  t.add({"reload", "", {}, [](const Json&) -> Json { throw std::runtime_error("reload: no config file"); }});
  return t;
}

const control::CommandTable& table() {
  static const control::CommandTable t = make_table();
  return t;
}

// The server, on a socket in a directory of its own, removed at exit.
struct Socket {
  std::string dir, path;
  std::unique_ptr<control::Server> server;
  Socket() {
    char tmpl[] = "/tmp/redline-fuzz-control.XXXXXX";
    FUZZ_CHECK(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    path = dir + "/ctl.sock";
    std::string error;
    server = control::Server::open(path, table(), &error);
    if (!server) std::fprintf(stderr, "control server: %s\n", error.c_str());
    FUZZ_CHECK(server != nullptr);
  }
  ~Socket() {
    server.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Socket& socket_once() {
  static Socket s;
  return s;
}

// The lines the server answers, as it splits them.
std::vector<std::string> answered_lines(const std::string& in) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = in.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = in.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

std::string reply_for(const std::string& line) {
  Json reply;
  try {
    reply = table().execute(line);
  } catch (...) {
    FUZZ_CHECK(!"CommandTable::execute threw");
  }
  FUZZ_CHECK(reply.is_object() && reply.contains("ok") && reply["ok"].is_boolean());
  if (reply["ok"]) {
    FUZZ_CHECK(reply.contains("result"));
  } else {
    FUZZ_CHECK(reply.contains("error") && reply["error"].is_string() && !reply["error"].get<std::string>().empty());
  }
  std::string text;
  try {
    text = reply.dump();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reply.dump() threw: %s\n", e.what());
    std::abort();
  }
  FUZZ_CHECK(text.find('\n') == std::string::npos);
  FUZZ_CHECK(Json::parse(text, nullptr, false) == reply);
  return text;
}

// Writes `in` to the server as one client, closes the client's sending side, and returns all
// the server wrote back before closing. The server is polled from this thread, in turn with the
// client's non-blocking writes and reads.
std::string through_server(const std::string& in) {
  Socket& s = socket_once();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", s.path.c_str());
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  FUZZ_CHECK(::fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
  std::string out;
  size_t sent = 0;
  bool shut = false, closed = false;
  for (int round = 0; round < 100000 && !closed; ++round) {
    if (sent < in.size()) {
      const ssize_t n = ::send(fd, in.data() + sent, in.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += size_t(n);
      else if (n < 0 && errno != EAGAIN) sent = in.size();  // the server closed on us (a line too long)
    }
    if (sent == in.size() && !shut) {
      ::shutdown(fd, SHUT_WR);
      shut = true;
    }
    s.server->poll(0);
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, size_t(n));
        continue;
      }
      if (n == 0 || (n < 0 && errno != EAGAIN)) closed = true;
      break;
    }
  }
  ::close(fd);
  FUZZ_CHECK(closed);
  FUZZ_CHECK(s.server->clients() == 0 || (s.server->poll(0), s.server->clients() == 0));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  if (!in.empty() && uint8_t(in[0]) == 0xff) {
    // One line longer than the server takes: the rest of the input, its newlines dropped,
    // padded past kMaxRequest; ended by a newline when the input's last byte is odd.
    std::string line;
    for (char ch : in.substr(1))
      if (ch != '\n') line += ch;
    const bool ended = uint8_t(in.back()) & 1;
    line.resize(control::CommandTable::kMaxRequest + 2, 'x');
    in = ended ? line + "\n" : line;
  }

  std::vector<std::string> expected;
  for (const std::string& line : answered_lines(in)) expected.push_back(reply_for(line));
  // A client whose unanswered bytes pass kMaxRequest + 1 with no newline among them is refused
  // and closed as soon as the server sees that; when, depends on how its reads fall.
  bool long_line = false;
  for (size_t start = 0; start <= in.size();) {
    const size_t nl = in.find('\n', start);
    const size_t end = nl == std::string::npos ? in.size() : nl;
    long_line |= end - start > control::CommandTable::kMaxRequest;
    if (nl == std::string::npos) break;
    start = nl + 1;
  }

  const std::string got = through_server(in);
  std::vector<std::string> replies;
  for (size_t start = 0, nl; (nl = got.find('\n', start)) != std::string::npos; start = nl + 1)
    replies.push_back(got.substr(start, nl - start));
  FUZZ_CHECK(got.empty() || got.back() == '\n');
  if (!long_line) {
    FUZZ_CHECK(replies == expected);
  } else {
    // The answers in order, up to a refusal that ends the exchange.
    for (size_t i = 0; i < replies.size(); ++i) {
      if (i < expected.size() && replies[i] == expected[i]) continue;
      FUZZ_CHECK(i + 1 == replies.size() && replies[i].find("longer than") != std::string::npos);
    }
  }
  return 0;
}
