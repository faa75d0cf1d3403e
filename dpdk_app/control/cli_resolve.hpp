// redlinectl's command line turned into a control request, against the command list redline
// itself sends (the "help" command: every command's words, arguments and help). So a command a
// feature adds to the server's table needs no client change.
//
// Manners as `ip` has them: a word may be any unambiguous prefix ("sh co", "neigh fl"), a few
// aliases stand for the names operators of other boxes type ("int" and "interfaces" for
// ports, "arp" for neighbors); arguments go by position, as `--name value`, or as `name value`
// ("route add 10.9.0.0/16 via 10.77.2.2" and "route add 10.9.0.0/16 10.77.2.2" are the same).
// Every mistake is an error that names what was wrong and what is accepted.
//
// Pure: no socket; unit-tested with a listing like the server's.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace redline::control {

struct Resolved {
  nlohmann::ordered_json request;  // {"command": ..., "args": {...}} when `error` is empty
  std::string command;              // the command's full name ("show counters")
  std::string error;                // a usage error, to print after "redlinectl: " (exit 64)
};

// `commands`: the "help" result, an array of {"command", "help", "args": [{"name", "type",
// "required", "help"}]}. `words`: the command line after the global options.
Resolved resolve(const nlohmann::ordered_json& commands, const std::vector<std::string>& words);

// "route add PREFIX VIA [--metric N]": how a command is written, for help and errors.
std::string synopsis(const nlohmann::ordered_json& command);

}  // namespace redline::control
