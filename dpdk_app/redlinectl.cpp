// redlinectl: look at and change a running redline over its control socket.
//
//   redlinectl [--socket PATH] [--json] COMMAND [ARGS]     (--json anywhere on the line)
//   redlinectl show counters --core 1 --nonzero          redlinectl route add 10.9.0.0/16 via 10.77.2.2
//   redlinectl sh int                                    redlinectl neigh flush
//   redlinectl help [WORDS]                              redlinectl --version
//
// The commands, their arguments and their help come from redline itself (its "help" command;
// control/cli_resolve.hpp turns the words into a request), so a command a feature adds needs no
// change here. Human-readable output by default, the reply's JSON with --json.
// Exit codes: 0 done, 1 redline refused the request, 2 redline cannot be reached, 64 the command
// line is wrong (sysexits' EX_USAGE); every error starts with "redlinectl:".
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dpdk_app/control/cli_resolve.hpp"

using Json = nlohmann::ordered_json;

namespace {

// One request, one reply line. Returns false with `error` set if the socket cannot be used.
bool ask(const std::string& path, const Json& request, Json* reply, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return *error = "socket path too long", false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = "cannot connect to " + path + ": " + std::strerror(errno) +
             (errno == EACCES ? " (the socket is root's: run as root)" : errno == ENOENT ? " (is redline running?)" : "");
    if (fd >= 0) ::close(fd);
    return false;
  }
  const std::string line = request.dump() + "\n";
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != ssize_t(line.size())) {
    *error = std::string("cannot send: ") + std::strerror(errno);
    ::close(fd);
    return false;
  }
  std::string in;
  char buf[65536];
  while (in.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) {
      *error = "no reply from redline within 10 s";
      ::close(fd);
      return false;
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, size_t(n));
  }
  ::close(fd);
  *reply = Json::parse(in.substr(0, in.find('\n')), nullptr, false);
  if (reply->is_discarded()) return *error = "redline sent something that is not JSON", false;
  return true;
}

std::string cell(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v.get<double>());
    return b;
  }
  if (v.is_object() || v.is_array()) return v.empty() ? "-" : v.dump();
  return v.dump();
}

// A list of flat objects as a table: every key any row has is a column, in first-seen order
// (rows differ: a static route has a gateway, a connected one has none).
void print_table(const Json& rows, const std::vector<std::string>& skip = {}) {
  if (!rows.is_array() || rows.empty()) return void(std::puts("(none)"));
  std::vector<std::string> cols;
  for (const Json& r : rows)
    for (auto& [k, v] : r.items())
      if (std::find(skip.begin(), skip.end(), k) == skip.end() && std::find(cols.begin(), cols.end(), k) == cols.end())
        cols.push_back(k);
  std::vector<size_t> width(cols.size());
  for (size_t c = 0; c < cols.size(); ++c) width[c] = cols[c].size();
  for (const Json& r : rows)
    for (size_t c = 0; c < cols.size(); ++c) width[c] = std::max(width[c], cell(r.value(cols[c], Json(""))).size());
  auto line = [&](auto value_of) {
    std::string out;
    for (size_t c = 0; c < cols.size(); ++c) {
      std::string v = value_of(c);
      out += v + std::string(width[c] - v.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::puts(out.c_str());
  };
  line([&](size_t c) { return cols[c]; });
  for (const Json& r : rows) line([&](size_t c) { return cell(r.value(cols[c], Json(""))); });
}

void print_human(const std::string& command, const Json& result) {
  if (command == "show counters") {
    print_table(result["counters"], {"description"});
  } else if (command == "show ports") {
    print_table(result, {"queues", "xstats"});
  } else if (command == "show connections") {
    // ss-style: one connection a line, prefixed by its worker.
    for (const Json& c : result["connections"])
      std::printf("%-3s %s\n", std::to_string(c.value("worker", 0)).c_str(),
                  c.contains("connection") ? c["connection"].get<std::string>().c_str() : c.value("error", "").c_str());
  } else if (command == "show trace") {
    // VPP's layout: a packet, then a line per stage it entered, then how it ended.
    for (const Json& p : result["packets"]) {
      if (p.contains("error")) {
        std::printf("worker %s: %s\n", cell(p["worker"]).c_str(), p.value("error", "").c_str());
        continue;
      }
      std::printf("packet %s on worker %s, from port %s: %s\n", cell(p["packet"]).c_str(), cell(p["worker"]).c_str(),
                  p.value("in_port", "").c_str(), p.value("verdict", "").c_str());
      for (const Json& s : p["steps"])
        std::printf("  %-14s %s\n", s.value("stage", "").c_str(), s.value("headers", "").c_str());
    }
    std::printf("still to trace: %s\n", cell(result["remaining"]).c_str());
  } else if (command == "show config") {
    std::printf("# %s%s\n%s", result.value("path", "").c_str(),
                result.value("file_changed_since_read", false) ? " (edited since read: reload to apply)" : "",
                result.value("text", "").c_str());
    const Json& running = result.contains("running") ? result["running"] : Json::object();
    std::printf("\n# running: log level %s, %s workers; routes:\n", running.value("log_level", "?").c_str(),
                cell(running.value("workers", Json(0))).c_str());
    for (const Json& r : running.value("routes", Json::array()))
      std::printf("#   %s via %s (%s)\n", r.value("prefix", "").c_str(), r.value("via", "").c_str(), r.value("source", "").c_str());
  } else if (result.is_array()) {
    print_table(result);
  } else {
    // Scalars as "key: value", then each list of rows (show nat sessions' "sessions") as a table.
    for (auto& [k, v] : result.items())
      if (!(v.is_array() && !v.empty() && v.front().is_object())) std::printf("%s: %s\n", k.c_str(), cell(v).c_str());
    for (auto& [k, v] : result.items())
      if (v.is_array() && !v.empty() && v.front().is_object()) {
        std::printf("\n");
        print_table(v);
      }
  }
}


constexpr int kRefused = 1, kUnreachable = 2, kUsage = 64;

void print_commands(const Json& commands, const std::vector<std::string>& filter) {
  for (const Json& c : commands) {
    const std::string name = c.value("command", "");
    bool shown = true;
    std::string rest = name;
    for (const std::string& w : filter) {  // "help route" lists the route commands
      const std::string word = rest.substr(0, rest.find(' '));
      shown = shown && word.compare(0, w.size(), w) == 0;
      rest = rest.find(' ') == std::string::npos ? "" : rest.substr(rest.find(' ') + 1);
    }
    if (shown) std::printf("%-44s %s\n", redline::control::synopsis(c).c_str(), c.value("help", "").c_str());
  }
}

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: redlinectl [--socket PATH] [--json] COMMAND [ARGS]   (redlinectl %s)\n"
               "  --socket PATH  redline's control socket ([control] socket; default /run/redline/redline.sock)\n"
               "  --json         print redline's JSON reply (anywhere on the line)\n"
               "Commands come from redline: `redlinectl help` lists them. Words may be shortened while\n"
               "they stay unambiguous (sh co, neigh fl). Exit: 0 done, 1 refused, 2 unreachable, 64 usage.\n",
               REDLINE_VERSION);
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path = "/run/redline/redline.sock";
  bool json = false, help = false;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" || a == "-j") {
      json = true;
    } else if (a == "--socket" || a == "-s") {
      if (i + 1 == argc) return std::fprintf(stderr, "redlinectl: --socket needs a path\n"), kUsage;
      socket_path = argv[++i];
    } else if (a.rfind("--socket=", 0) == 0) {
      socket_path = a.substr(9);
    } else if (a == "--help" || a == "-h") {
      help = true;
    } else if (a == "--version" || a == "-V") {
      std::printf("redlinectl %s\n", REDLINE_VERSION);
      return 0;
    } else {
      words.push_back(a);  // a command's own options (--core 1) are the command's to judge
    }
  }
  if (words.empty() && !help) {
    usage(stderr);
    return kUsage;
  }
  Json listing;
  std::string error;
  const bool reachable = ask(socket_path, {{"command", "help"}, {"args", Json::object()}}, &listing, &error) &&
                         listing.value("ok", false) && listing["result"].is_array();
  if (help || (!words.empty() && words[0] == "help")) {
    if (help) usage(stdout);
    if (!reachable) {
      std::fprintf(stderr, "redlinectl: %s: redline lists its commands once it is reachable\n", error.c_str());
      return help ? 0 : kUnreachable;
    }
    if (json && !help) std::cout << listing.dump(2) << "\n";
    else print_commands(listing["result"], std::vector<std::string>(words.begin() + (words.empty() ? 0 : 1), words.end()));
    return 0;
  }
  if (!reachable) {
    std::fprintf(stderr, "redlinectl: %s\n", error.empty() ? "redline sent no command list" : error.c_str());
    return kUnreachable;
  }
  const redline::control::Resolved r = redline::control::resolve(listing["result"], words);
  if (!r.error.empty()) {
    std::fprintf(stderr, "redlinectl: %s\n", r.error.c_str());
    return kUsage;
  }
  Json reply;
  if (!ask(socket_path, r.request, &reply, &error)) {
    std::fprintf(stderr, "redlinectl: %s\n", error.c_str());
    return kUnreachable;
  }
  if (json) std::cout << reply.dump(2) << "\n";
  if (!reply.value("ok", false)) {
    if (!json) std::fprintf(stderr, "redlinectl: %s\n", reply.value("error", std::string("refused")).c_str());
    return kRefused;
  }
  if (!json) print_human(r.command, reply["result"]);
  return 0;
}
