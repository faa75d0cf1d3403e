// Which traffic for redline's own address goes to the kernel exception path when no stage of
// redline claims it (`[ports.kernel] pass` in the config): by protocol, and for TCP and UDP by
// destination port (and TCP replies by source port). Pure; parsed once at start.
//
//   "tcp:22"  "tcp:8000-8080"  "tcp:*"  "udp:67-68"  "udp:*"  "proto:89"  "all"
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace redline::ip {

class PassRules {
 public:
  // nullopt with `error` naming the entry when one does not parse.
  static std::optional<PassRules> parse(const std::vector<std::string>& entries, std::string* error);

  // TCP/UDP to a port in a rule (a daemon's listening port); TCP also from one when `tcp_reply`
  // (ACK without SYN: the answer to a connection the kernel opened, BIRD connecting to a peer's
  // 179 from an ephemeral port) — never a SYN from a chosen source port, which would otherwise
  // reach any listener. Another protocol: by its number.
  bool matches(uint8_t protocol, uint16_t src_port, uint16_t dst_port, bool tcp_reply) const {
    if (all_) return true;
    if (protocol == 6) return tcp_[dst_port] || (tcp_reply && tcp_[src_port]);
    if (protocol == 17) return udp_[dst_port];
    return protocols_[protocol];
  }
  // ICMP that is not an echo request (replies, errors for the kernel's own flows) goes with any
  // rule: whoever runs a daemon there needs them.
  bool any() const { return all_ || tcp_.any() || udp_.any() || protocols_.any(); }

 private:
  bool all_ = false;
  std::bitset<65536> tcp_, udp_;
  std::bitset<256> protocols_;
};

inline std::optional<PassRules> PassRules::parse(const std::vector<std::string>& entries, std::string* error) {
  PassRules r;
  for (const std::string& e : entries) {
    auto bad = [&](const std::string& why) {
      *error = "'" + e + "': " + why;
      return std::nullopt;
    };
    if (e == "all") {
      r.all_ = true;
      continue;
    }
    const auto colon = e.find(':');
    if (colon == std::string::npos) return bad("want tcp:PORT[-PORT], udp:PORT[-PORT], tcp:*, udp:*, proto:N or all");
    const std::string kind = e.substr(0, colon), what = e.substr(colon + 1);
    unsigned long lo = 0, hi = 0;
    try {
      size_t used = 0;
      if (what == "*") {
        lo = 0;
        hi = 65535;
      } else {
        const auto dash = what.find('-');
        lo = std::stoul(what.substr(0, dash), &used);
        if (used != (dash == std::string::npos ? what.size() : dash)) throw std::invalid_argument("junk");
        hi = dash == std::string::npos ? lo : std::stoul(what.substr(dash + 1), &used);
        if (dash != std::string::npos && used != what.size() - dash - 1) throw std::invalid_argument("junk");
      }
    } catch (const std::exception&) {
      return bad("not a number or range");
    }
    if (kind == "proto") {
      if (what == "*" || lo > 255 || hi != lo) return bad("a protocol number 0-255");
      if (lo == 6 || lo == 17) return bad("TCP and UDP go by port: tcp:* or udp:*");
      r.protocols_[lo] = true;
    } else if (kind == "tcp" || kind == "udp") {
      if (hi > 65535 || lo > hi) return bad("ports 0-65535, low to high");
      auto& set = kind == "tcp" ? r.tcp_ : r.udp_;
      for (unsigned long p = lo; p <= hi; ++p) set[p] = true;
    } else {
      return bad("want tcp:, udp:, proto: or all");
    }
  }
  return r;
}

}  // namespace redline::ip
