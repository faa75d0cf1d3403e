#include "dpdk_app/control/cli_resolve.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <sstream>
#include <utility>

namespace redline::control {

using Json = nlohmann::ordered_json;

namespace {

// What operators of other boxes type for redline's names.
const std::pair<const char*, const char*> kAliases[] = {
    {"interfaces", "ports"}, {"links", "ports"}, {"arp", "neighbors"}, {"neighbours", "neighbors"},
    {"neighbour", "neighbor"}, {"ss", "connections"}, {"stats", "counters"},
};

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool starts_with(const std::string& full, const std::string& prefix) {
  return !prefix.empty() && full.compare(0, prefix.size(), prefix) == 0;
}

// How well the user's word names the command word: 2 exactly, 1 as a prefix or an alias's
// prefix, 0 not at all.
int word_match(const std::string& command_word, const std::string& typed) {
  if (command_word == typed) return 2;
  if (starts_with(command_word, typed)) return 1;
  for (const auto& [alias, name] : kAliases)
    if (command_word == name && starts_with(alias, typed)) return 1;
  return 0;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

struct Candidate {
  const Json* command;
  size_t words;  // how many words of the command line it takes
  int exact;     // how many of them were typed in full
};

// The words that may follow `typed` (the first words of some commands): for errors.
std::vector<std::string> next_words(const Json& commands, const std::vector<std::string>& typed) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const Json& c : commands) {
    const std::vector<std::string> w = split_words(c.value("command", ""));
    if (w.size() <= typed.size()) continue;
    bool ok = true;
    for (size_t j = 0; j < typed.size() && ok; ++j) ok = word_match(w[j], typed[j]) > 0;
    if (ok && seen.insert(w[typed.size()]).second) out.push_back(w[typed.size()]);
  }
  return out;
}

// Arguments after the command's words, by the command's declared ones.
std::string parse_args(const Json& command, const std::vector<std::string>& rest, Json* args) {
  const std::string name = command.value("command", "");
  const Json& specs = command.contains("args") ? command["args"] : Json::array();
  auto spec_named = [&](const std::string& n) -> const Json* {
    for (const Json& a : specs)
      if (a.value("name", "") == n) return &a;
    return nullptr;
  };
  auto takes = [&]() {
    return "'" + name + "' is written: " + synopsis(command);
  };
  auto set = [&](const Json& spec, const std::string& value) -> std::string {
    const std::string n = spec.value("name", "");
    const std::string kind = spec.value("kind", "string");
    if (kind == "int") {
      char* end = nullptr;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end) return n + " must be an integer, not '" + value + "'";
      (*args)[n] = v;
    } else if (kind == "bool") {
      if (value != "true" && value != "false") return n + " must be true or false, not '" + value + "'";
      (*args)[n] = value == "true";
    } else {
      (*args)[n] = value;
    }
    return "";
  };
  for (size_t i = 0; i < rest.size(); ++i) {
    const std::string& t = rest[i];
    std::string err;
    if (t.size() > 2 && t.compare(0, 2, "--") == 0) {
      const auto eq = t.find('=');
      const std::string key = t.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      const Json* spec = spec_named(key);
      if (!spec) return "'" + name + "' has no option --" + key + "; " + takes();
      if (eq != std::string::npos) err = set(*spec, t.substr(eq + 1));
      else if (spec->value("kind", "") == "bool") (*args)[key] = true;
      else if (i + 1 < rest.size()) err = set(*spec, rest[++i]);
      else return "--" + key + " needs a value; " + takes();
    } else if (const Json* spec = spec_named(t); spec && spec->value("kind", "") != "bool" && i + 1 < rest.size() &&
                                                  !args->contains(t)) {
      err = set(*spec, rest[++i]);  // keyword form: "via 10.77.2.2"
    } else {
      const Json* next = nullptr;
      for (const Json& a : specs)
        if (a.value("kind", "") != "bool" && !args->contains(a.value("name", ""))) {
          next = &a;
          break;
        }
      if (!next) return "'" + name + "' takes nothing more than it has, not '" + t + "'; " + takes();
      err = set(*next, t);
    }
    if (!err.empty()) return err + "; " + takes();
  }
  for (const Json& a : specs)
    if (a.value("required", false) && !args->contains(a.value("name", "")))
      return "'" + name + "' needs " + upper(a.value("name", "")) + " (" + a.value("help", "") + "); " + takes();
  return "";
}

}  // namespace

std::string synopsis(const Json& command) {
  std::string out = command.value("command", "");
  if (!command.contains("args")) return out;
  for (const Json& a : command["args"]) {
    const std::string n = a.value("name", "");
    const std::string kind = a.value("kind", "string");
    std::string part = kind == "bool" ? "--" + n : kind == "int" ? "--" + n + " N" : upper(n);
    out += " " + (a.value("required", false) ? part : "[" + part + "]");
  }
  return out;
}

Resolved resolve(const Json& commands, const std::vector<std::string>& words) {
  Resolved r;
  if (words.empty()) {
    r.error = "give a command: " + join(next_words(commands, {}), ", ") + " (redlinectl help lists them)";
    return r;
  }
  std::vector<Candidate> found;
  for (const Json& c : commands) {
    const std::vector<std::string> w = split_words(c.value("command", ""));
    if (w.empty() || w.size() > words.size()) continue;
    int exact = 0;
    bool ok = true;
    for (size_t j = 0; j < w.size() && ok; ++j) {
      const int m = word_match(w[j], words[j]);
      ok = m > 0;
      exact += m == 2;
    }
    if (ok) found.push_back({&c, w.size(), exact});
  }
  if (found.empty()) {
    // No command matches all its words: say where the words stop naming one, and what may
    // come there.
    std::vector<std::string> typed;
    for (const std::string& w : words) {
      std::vector<std::string> with = typed;
      with.push_back(w);
      if (next_words(commands, with).empty()) {
        r.error = typed.empty() ? "unknown command '" + w + "'; commands: " + join(next_words(commands, {}), ", ")
                                : "'" + join(with, " ") + "' is no command: after '" + join(typed, " ") +
                                      "' comes one of " + join(next_words(commands, typed), ", ");
        return r;
      }
      typed = std::move(with);
    }
    r.error = "'" + join(typed, " ") + "' needs one of: " + join(next_words(commands, typed), ", ");
    return r;
  }
  // The command that takes the most words; among equals, the one typed most exactly.
  std::stable_sort(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) {
    return a.words != b.words ? a.words > b.words : a.exact > b.exact;
  });
  if (found.size() > 1 && found[0].words == found[1].words && found[0].exact == found[1].exact) {
    std::vector<std::string> names;
    for (const Candidate& c : found)
      if (c.words == found[0].words && c.exact == found[0].exact) names.push_back(c.command->value("command", ""));
    r.error = "'" + join(std::vector<std::string>(words.begin(), words.begin() + long(found[0].words)), " ") +
              "' is ambiguous: " + join(names, ", ");
    return r;
  }
  const Json& command = *found[0].command;
  Json args = Json::object();
  const std::vector<std::string> rest(words.begin() + long(found[0].words), words.end());
  r.error = parse_args(command, rest, &args);
  r.command = command.value("command", "");
  // In the order the command declares them, however they were typed.
  Json ordered = Json::object();
  if (command.contains("args"))
    for (const Json& a : command["args"])
      if (args.contains(a.value("name", ""))) ordered[a.value("name", "")] = args[a.value("name", "")];
  if (r.error.empty()) r.request = {{"command", r.command}, {"args", ordered}};
  return r;
}

}  // namespace redline::control
