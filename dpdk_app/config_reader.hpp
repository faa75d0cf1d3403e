// The TOML reading helpers every config section shares: typed getters that fail with
// "FILE:LINE: key 'x': what is wrong", and the check that rejects unknown keys. Internal to
// dpdk_app's config parsing (config.cpp, nat_config.cpp).
#pragma once

#include <set>
#include <sstream>
#include <string>
#include <toml++/toml.h>

#include "stack/nat/nat_config.hpp"
#include "stack/services/services_config.hpp"
#include "stack/tcp/settings.hpp"

namespace redline::app {

// Thrown inside the parser only; turned into ConfigResult::error at the top.
struct ConfigError {
  std::string message;
};

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const toml::node* at, const std::string& key, const std::string& what) const {
    std::ostringstream out;
    out << source_;
    if (at && at->source().begin.line) out << ":" << at->source().begin.line;
    out << ": key '" << key << "': " << what;
    throw ConfigError{out.str()};
  }

  // Rejects keys we do not know, so a typo is an error rather than a silent default.
  void only_keys(const toml::table& t, const std::string& where, std::initializer_list<const char*> known) const {
    std::set<std::string_view> allowed(known.begin(), known.end());
    for (auto&& [k, v] : t)
      if (!allowed.count(k.str())) fail(&v, where.empty() ? std::string(k.str()) : where + "." + std::string(k.str()), "unknown key");
  }

  std::string string(const toml::table& t, const std::string& key, const std::string& path, bool required) const {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) fail(&t, path, "missing");
      return {};
    }
    auto v = n->value<std::string>();
    if (!v || !n->is_string()) fail(n, path, "must be a string");
    return *v;
  }

  template <typename T>
  void number(const toml::table& t, const std::string& key, const std::string& path, T& out,
              int64_t min, int64_t max) const {
    const toml::node* n = t.get(key);
    if (!n) return;
    if (!n->is_integer()) fail(n, path, "must be an integer");
    int64_t v = *n->value<int64_t>();
    if (v < min || v > max)
      fail(n, path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    out = T(v);
  }

  bool boolean(const toml::table& t, const char* key, const std::string& path, bool fallback) const {
    const toml::node* n = t.get(key);
    if (!n) return fallback;
    if (!n->is_boolean()) fail(n, path, "must be true or false");
    return *n->value<bool>();
  }

  const toml::table* table(const toml::table& t, const std::string& key) const {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(n, key, "must be a table ([" + key + "])");
    return n->as_table();
  }

 private:
  std::string source_;
};

struct Config;
// The [nat] section (nat_config.cpp), read after the ports it names.
nat::NatConfig read_nat(const Reader& r, const toml::table& t, const Config& c);
// The [tcp] and [services] sections (tcp_config.cpp).
tcp::Settings read_tcp(const Reader& r, const toml::table& t);
services::ServicesConfig read_services(const Reader& r, const toml::table& t);

}  // namespace redline::app
