// redlinectl: look at and change a running redline over its control socket.
//
//   redlinectl show counters [--core N] [--nonzero]     redlinectl route add 10.9.0.0/16 via 10.77.2.2
//   redlinectl show ports|routes|neighbors|workers|nat|tcp|connections|config  redlinectl route del 10.9.0.0/16
//   redlinectl neighbor flush [IP]                      redlinectl reload
//   redlinectl [--socket PATH] [--json] ...             redlinectl help
//
// Human-readable tables by default, the reply's JSON with --json; exit code 1 when redline
// refuses the request, 2 when it cannot be reached.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

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
  } else if (command == "show config") {
    std::printf("# %s\n%s", result.value("path", "").c_str(), result.value("text", "").c_str());
  } else if (command == "help") {
    for (const Json& c : result) {
      std::string args;
      for (const Json& a : c["args"]) args += std::string(" ") + (a["required"] ? "" : "[") + a["name"].get<std::string>() +
                                             (a["required"] ? "" : "]");
      std::printf("%-16s%-24s %s\n", c["command"].get<std::string>().c_str(), args.c_str(), c["help"].get<std::string>().c_str());
    }
  } else if (result.is_array()) {
    print_table(result);
  } else {
    for (auto& [k, v] : result.items()) std::printf("%s: %s\n", k.c_str(), cell(v).c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"redlinectl: look at and change a running redline"};
  cli.require_subcommand(1);
  std::string socket_path = "/run/redline/redline.sock";
  bool json = false;
  cli.add_option("--socket", socket_path, "redline's control socket ([control] socket)")->capture_default_str();
  cli.add_flag("--json", json, "print redline's JSON reply");

  Json request;
  auto* show = cli.add_subcommand("show", "show counters|ports|routes|neighbors|workers|nat|tcp|connections|config");
  show->require_subcommand(1);
  int core = -1;
  bool nonzero = false;
  auto* counters = show->add_subcommand("counters", "counters, summed or one worker's");
  counters->add_option("--core", core, "one worker");
  counters->add_flag("--nonzero", nonzero, "leave out zeros");
  for (const char* what : {"ports", "routes", "neighbors", "workers", "nat", "tcp", "connections", "config"}) show->add_subcommand(what, std::string("show ") + what);

  auto* route = cli.add_subcommand("route", "route add PREFIX via GW | route del PREFIX");
  route->require_subcommand(1);
  std::string prefix, via_word, via;
  auto* add = route->add_subcommand("add", "add a static route");
  add->add_option("prefix", prefix, "destination, e.g. 10.9.0.0/16")->required();
  add->add_option("via", via_word, "the word 'via'")->required()->check(CLI::IsMember({"via"}));
  add->add_option("gateway", via, "gateway on a connected network")->required();
  auto* del = route->add_subcommand("del", "remove a static route");
  del->add_option("prefix", prefix, "destination")->required();

  auto* neighbor = cli.add_subcommand("neighbor", "neighbor flush [IP]");
  neighbor->require_subcommand(1);
  std::string ip;
  auto* flush = neighbor->add_subcommand("flush", "forget one neighbor or all");
  flush->add_option("ip", ip, "one neighbor's address");
  cli.add_subcommand("reload", "re-read the config file and apply what can change");
  cli.add_subcommand("help", "the commands redline itself offers");

  CLI11_PARSE(cli, argc, argv);

  std::string command;
  Json args = Json::object();
  if (show->parsed()) {
    for (auto* sub : show->get_subcommands()) command = "show " + sub->get_name();
    if (counters->parsed()) {
      if (core >= 0) args["core"] = core;
      if (nonzero) args["nonzero"] = true;
    }
  } else if (add->parsed()) {
    command = "route add";
    args = {{"prefix", prefix}, {"via", via}};
  } else if (del->parsed()) {
    command = "route del";
    args = {{"prefix", prefix}};
  } else if (flush->parsed()) {
    command = "neighbor flush";
    if (!ip.empty()) args["ip"] = ip;
  } else {
    command = cli.get_subcommands().front()->get_name();
  }
  request = {{"command", command}, {"args", args}};

  Json reply;
  std::string error;
  if (!ask(socket_path, request, &reply, &error)) {
    std::fprintf(stderr, "redlinectl: %s\n", error.c_str());
    return 2;
  }
  if (json) std::cout << reply.dump(2) << "\n";
  if (!reply.value("ok", false)) {
    if (!json) std::fprintf(stderr, "redlinectl: %s\n", reply.value("error", std::string("refused")).c_str());
    return 1;
  }
  if (!json) print_human(command, reply["result"]);
  return 0;
}
