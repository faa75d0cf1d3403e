#include "stack/net/types.hpp"

#include <charconv>
#include <cstdio>

namespace redline::net {

namespace {
// Parses a decimal number in [0, max] that spans the whole of `text`.
std::optional<uint32_t> parse_decimal(std::string_view text, uint32_t max) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v > max) return std::nullopt;
  return v;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<Ipv4Addr> Ipv4Addr::parse(std::string_view text) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    size_t dot = i < 3 ? text.find('.') : text.size();
    if (dot == std::string_view::npos) return std::nullopt;
    auto octet = parse_decimal(text.substr(0, dot), 255);
    if (!octet) return std::nullopt;
    value = (value << 8) | *octet;
    text.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  if (!text.empty()) return std::nullopt;
  return Ipv4Addr{value};
}

std::string Ipv4Addr::to_string() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", value >> 24, (value >> 16) & 0xff,
                (value >> 8) & 0xff, value & 0xff);
  return buf;
}

std::optional<Ipv4Prefix> Ipv4Prefix::parse(std::string_view text) {
  size_t slash = text.find('/');
  auto addr = Ipv4Addr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  if (slash == std::string_view::npos) return Ipv4Prefix{*addr, 32};
  auto len = parse_decimal(text.substr(slash + 1), 32);
  if (!len) return std::nullopt;
  return Ipv4Prefix{*addr, uint8_t(*len)};
}

std::string Ipv4Prefix::to_string() const {
  return addr.to_string() + "/" + std::to_string(length);
}

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
  // Exactly six two-digit hex groups separated by ':'.
  if (text.size() != 17) return std::nullopt;
  MacAddr mac;
  for (int i = 0; i < 6; ++i) {
    int hi = hex_digit(text[i * 3]), lo = hex_digit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
    mac.bytes[i] = uint8_t(hi << 4 | lo);
  }
  return mac;
}

std::string MacAddr::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

}  // namespace redline::net
