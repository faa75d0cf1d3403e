#include "dpdk_app/control/command_table.hpp"

namespace redline::control {

namespace {
const char* type_name(ArgSpec::Type t) {
  switch (t) {
    case ArgSpec::Type::kString: return "a string";
    case ArgSpec::Type::kInt: return "an integer";
    case ArgSpec::Type::kBool: return "true or false";
  }
  return "?";
}

// For clients that parse command lines (redlinectl: cli_resolve.cpp).
const char* kind_name(ArgSpec::Type t) {
  return t == ArgSpec::Type::kInt ? "int" : t == ArgSpec::Type::kBool ? "bool" : "string";
}

bool has_type(const Json& v, ArgSpec::Type t) {
  switch (t) {
    case ArgSpec::Type::kString: return v.is_string();
    case ArgSpec::Type::kInt: return v.is_number_integer();
    case ArgSpec::Type::kBool: return v.is_boolean();
  }
  return false;
}
}  // namespace

CommandTable::CommandTable() {
  commands_.push_back({"help", "list the commands and their arguments", {}, [this](const Json&) {
                         Json list = Json::array();
                         for (const Command& c : commands_) {
                           Json args = Json::array();
                           for (const ArgSpec& a : c.args)
                             args.push_back({{"name", a.name}, {"type", type_name(a.type)}, {"kind", kind_name(a.type)},
                                             {"required", a.required},
                                             {"help", a.help}});
                           list.push_back({{"command", c.name}, {"help", c.help}, {"args", args}});
                         }
                         return list;
                       }});
}

void CommandTable::add(Command command) {
  if (find(command.name)) throw std::logic_error("control command '" + command.name + "' registered twice");
  commands_.push_back(std::move(command));
}

const Command* CommandTable::find(const std::string& name) const {
  for (const Command& c : commands_)
    if (c.name == name) return &c;
  return nullptr;
}

Json CommandTable::execute(std::string_view line) const {
  if (line.size() > kMaxRequest) return error("request longer than " + std::to_string(kMaxRequest) + " bytes");
  Json request = Json::parse(line, nullptr, false);
  if (request.is_discarded()) return error("request is not JSON");
  if (!request.is_object()) return error("request must be a JSON object like {\"command\": \"help\"}");
  for (auto& [key, value] : request.items())
    if (key != "command" && key != "args") return error("unknown request field '" + key + "'");
  if (!request.contains("command") || !request["command"].is_string())
    return error("request needs \"command\": a string, e.g. \"show counters\"");
  const std::string name = request["command"];
  const Command* command = find(name);
  if (!command) return error("unknown command '" + name + "' (\"help\" lists them)");
  Json args = request.value("args", Json::object());
  if (!args.is_object()) return error("\"args\" must be a JSON object");
  for (auto& [key, value] : args.items()) {
    // Captured through an init-capture: clang before 16 cannot capture a structured binding by name.
    auto spec = std::find_if(command->args.begin(), command->args.end(), [&key = key](const ArgSpec& a) { return a.name == key; });
    if (spec == command->args.end()) return error("'" + name + "' takes no argument '" + key + "'");
    if (!has_type(value, spec->type)) return error("argument '" + key + "' must be " + type_name(spec->type));
  }
  for (const ArgSpec& a : command->args)
    if (a.required && !args.contains(a.name)) return error("'" + name + "' needs argument '" + a.name + "'");
  try {
    return ok(command->run(args));
  } catch (const CommandError& e) {
    return error(e.what());
  } catch (const std::exception& e) {
    return error(std::string("internal error: ") + e.what());
  }
}

}  // namespace redline::control
