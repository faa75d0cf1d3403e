// The control plane's commands: one table, so a feature (NAT, TCP, the load balancer) adds its
// rows without touching the socket code.
//
// Protocol (one request per line, one reply per line, both JSON objects):
//   {"command": "route add", "args": {"prefix": "10.9.0.0/16", "via": "10.77.2.2"}}
//   {"ok": true, "result": ...}            or        {"ok": false, "error": "what is wrong"}
// Arguments are checked against the command's declared ones before it runs: unknown, missing
// and ill-typed arguments are errors that name the argument. Nothing a client sends can throw
// past execute(): every failure is a reply.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace redline::control {

using Json = nlohmann::ordered_json;

// Thrown by a handler for a request it refuses; becomes {"ok": false, "error": what()}.
struct CommandError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ArgSpec {
  enum class Type { kString, kInt, kBool };
  std::string name;
  Type type = Type::kString;
  bool required = false;
  std::string help;
};

struct Command {
  std::string name;  // words, e.g. "show counters"
  std::string help;
  std::vector<ArgSpec> args;
  std::function<Json(const Json& args)> run;
};

class CommandTable {
 public:
  // Longest request line accepted (the server enforces it before parsing).
  static constexpr size_t kMaxRequest = 64 * 1024;

  CommandTable();  // with "help", which lists the table
  // Throws std::logic_error on a duplicate name (a programming error, found at start).
  void add(Command command);
  // Runs one request line; never throws.
  Json execute(std::string_view line) const;
  const std::vector<Command>& commands() const { return commands_; }

  static Json ok(Json result) { return {{"ok", true}, {"result", std::move(result)}}; }
  static Json error(const std::string& what) { return {{"ok", false}, {"error", what}}; }

 private:
  const Command* find(const std::string& name) const;
  std::vector<Command> commands_;
};

}  // namespace redline::control
