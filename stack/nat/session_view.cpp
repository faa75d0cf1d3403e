#include "stack/nat/session_view.hpp"

#include <charconv>

#include "stack/wire/ipv4.hpp"

namespace redline::nat {

std::optional<EndpointMatch> parse_endpoint_match(const std::string& text, std::string* error) {
  const size_t colon = text.find(':');
  const auto ip = net::Ipv4Addr::parse(std::string_view(text).substr(0, colon));
  if (!ip) {
    *error = "'" + text + "' is not an IPv4 address, or an address and a port (10.0.1.5 or 10.0.1.5:4000)";
    return std::nullopt;
  }
  EndpointMatch m;
  m.at.ip = net::to_be(ip->value);
  if (colon == std::string::npos) return m;
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, port);
  if (first == last || ec != std::errc() || end != last || port > 65535) {
    *error = "'" + text + "': the port must be a number 0-65535";
    return std::nullopt;
  }
  m.at.port = net::to_be(uint16_t(port));
  m.any_port = false;
  return m;
}

uint8_t parse_protocol(const std::string& text, std::string* error) {
  if (text == "tcp") return wire::ipv4::kProtoTcp;
  if (text == "udp") return wire::ipv4::kProtoUdp;
  if (text == "icmp") return wire::ipv4::kProtoIcmp;
  unsigned n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (!text.empty() && ec == std::errc() && end == text.data() + text.size() && n >= 1 && n <= 255) return uint8_t(n);
  *error = "protocol '" + text + "': tcp, udp, icmp or a number 1-255";
  return 0;
}

std::string protocol_name(uint8_t protocol) {
  switch (protocol) {
    case wire::ipv4::kProtoTcp: return "tcp";
    case wire::ipv4::kProtoUdp: return "udp";
    case wire::ipv4::kProtoIcmp: return "icmp";
    default: return std::to_string(protocol);
  }
}

// conntrack's names, which operators know.
const char* tcp_state_name(TcpState s) {
  switch (s) {
    case TcpState::kSynSent: return "SYN_SENT";
    case TcpState::kSynReceived: return "SYN_RECV";
    case TcpState::kEstablished: return "ESTABLISHED";
    case TcpState::kFinOne: return "FIN_WAIT";
    case TcpState::kFinBoth: return "CLOSING";
    case TcpState::kReset: return "CLOSE";
  }
  return "?";
}

}  // namespace redline::nat
