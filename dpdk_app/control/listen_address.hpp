// What [control] metrics may name: ADDRESS:PORT, the address IPv4 or bracketed IPv6, the port
// 1-65535. One check, used where the config is read (so `redline --check` refuses what the
// metrics server would) and by the metrics server itself.
//
// civetweb would also take "9469" (every address), "+9469" or a trailing "s"/"r" (TLS,
// redirect), and a host name it resolves; the config promises ADDRESS:PORT, so anything else is
// refused with a message that says what was expected.
#pragma once

#include <arpa/inet.h>

#include <string>

namespace redline::app {

inline bool valid_listen_address(const std::string& s, std::string* why) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    *why = "expected ADDRESS:PORT like 127.0.0.1:9469";
    return false;
  }
  const std::string port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) == 0 || std::stoul(port) > 65535) {
    *why = "port '" + port + "' is not 1-65535";
    return false;
  }
  const std::string addr = s.substr(0, colon);
  unsigned char buf[16];
  if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') {
    if (inet_pton(AF_INET6, addr.substr(1, addr.size() - 2).c_str(), buf) == 1) return true;
  } else if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    return true;
  }
  *why = "address '" + addr + "' is neither IPv4 (127.0.0.1) nor bracketed IPv6 ([::1]); host names are not looked up";
  return false;
}

}  // namespace redline::app
