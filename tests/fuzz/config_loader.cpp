// Fuzz target: redline's config reader (dpdk_app/config.cpp, nat_config.cpp, tcp_config.cpp)
// on any file text, the way `redline --check FILE`, start-up and the control socket's `reload`
// call it: parse_config(text, name).
//
// Asserted: any text gives either a config or an error, never both, never neither, and never
// an exception past parse_config (toml++'s and the reader's own are its to catch); an error
// names the file it is about. A config that is accepted keeps the promises the rest of redline
// builds on without checking again: at least one and at most 32 ports with distinct names, each
// a host address on a prefix of 1-30 bits; TCP's ephemeral range and RTO bounds ordered; the
// NAT's port ranges ordered.
// The same text, line by line, also goes through the address parsers every config value and
// control argument uses (Ipv4Addr, Ipv4Prefix, MacAddr): what parses prints as text that parses
// to the same value.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <string_view>

#include "dpdk_app/config.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace redline;

namespace {

void check_text_parsers(std::string_view line) {
  if (auto a = net::Ipv4Addr::parse(line)) {
    const auto again = net::Ipv4Addr::parse(a->to_string());
    FUZZ_CHECK(again && *again == *a);
  }
  if (auto p = net::Ipv4Prefix::parse(line)) {
    FUZZ_CHECK(p->length <= 32);
    const auto again = net::Ipv4Prefix::parse(p->to_string());
    FUZZ_CHECK(again && *again == *p);
    FUZZ_CHECK(p->contains(p->addr) && p->contains(p->network()) && p->contains(p->directed_broadcast()));
  }
  if (auto m = net::MacAddr::parse(line)) {
    const auto again = net::MacAddr::parse(m->to_string());
    FUZZ_CHECK(again && *again == *m);
  }
}

void check_config(const app::Config& c) {
  FUZZ_CHECK(!c.ports.empty() && c.ports.size() <= 32);
  std::set<std::string> names;
  for (const app::PortConfig& p : c.ports) {
    FUZZ_CHECK(names.insert(p.name).second);
    FUZZ_CHECK(p.address.length >= 1 && p.address.length <= 30);
    FUZZ_CHECK(p.address.addr != p.address.network() && p.address.addr != p.address.directed_broadcast());
    FUZZ_CHECK(p.mtu >= 576);
  }
  FUZZ_CHECK(c.tcp.ephemeral_low >= 1 && c.tcp.ephemeral_low <= c.tcp.ephemeral_high);
  FUZZ_CHECK(c.tcp.min_rto_ms <= c.tcp.max_rto_ms);
  if (c.nat.enabled) {
    for (const nat::PortRange& r : {c.nat.tcp_ports, c.nat.udp_ports, c.nat.icmp_ids})
      FUZZ_CHECK(r.low >= 1 && r.low <= r.high);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  app::ConfigResult r;
  try {
    r = app::parse_config(text, "fuzz.toml");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_config threw: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "parse_config threw something that is not a std::exception\n");
    std::abort();
  }
  FUZZ_CHECK(r.config.has_value() == r.error.empty());
  if (r.config) check_config(*r.config);
  else FUZZ_CHECK(r.error.rfind("fuzz.toml", 0) == 0);

  size_t start = 0;
  for (int lines = 0; start <= text.size() && lines < 16; ++lines) {
    const size_t nl = text.find('\n', start);
    const size_t end = nl == std::string::npos ? text.size() : nl;
    check_text_parsers(std::string_view(text).substr(start, end - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return 0;
}
