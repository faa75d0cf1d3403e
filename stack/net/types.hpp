// Small value types shared by every layer. Units are types: an address is not a uint32_t,
// a big-endian field is not a host integer. No DPDK here.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace redline::net {

// Host <-> network byte order without any platform header.
constexpr uint16_t to_be(uint16_t v) {
  return std::endian::native == std::endian::big ? v : __builtin_bswap16(v);
}
constexpr uint32_t to_be(uint32_t v) {
  return std::endian::native == std::endian::big ? v : __builtin_bswap32(v);
}

// A 16-bit field kept in network byte order; .host() converts.
struct Be16 {
  uint16_t raw = 0;
  static constexpr Be16 from_host(uint16_t v) { return Be16{to_be(v)}; }
  constexpr uint16_t host() const { return to_be(raw); }
  friend constexpr bool operator==(Be16, Be16) = default;
};

struct Be32 {
  uint32_t raw = 0;
  static constexpr Be32 from_host(uint32_t v) { return Be32{to_be(v)}; }
  constexpr uint32_t host() const { return to_be(raw); }
  friend constexpr bool operator==(Be32, Be32) = default;
};

// IPv4 address held in host order so prefixes and comparisons are plain arithmetic.
struct Ipv4Addr {
  uint32_t value = 0;

  static constexpr Ipv4Addr from_octets(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return Ipv4Addr{(uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | d};
  }
  static std::optional<Ipv4Addr> parse(std::string_view text);
  std::string to_string() const;

  constexpr bool is_unspecified() const { return value == 0; }
  constexpr bool is_limited_broadcast() const { return value == 0xffffffffu; }
  constexpr bool is_multicast() const { return (value >> 28) == 0xe; }
  constexpr bool is_loopback() const { return (value >> 24) == 127; }
  friend constexpr auto operator<=>(Ipv4Addr, Ipv4Addr) = default;
};

// An address with its prefix length, as written in configs: 10.0.0.1/24.
struct Ipv4Prefix {
  Ipv4Addr addr;
  uint8_t length = 0;

  static std::optional<Ipv4Prefix> parse(std::string_view text);
  constexpr uint32_t mask() const { return length == 0 ? 0 : ~uint32_t(0) << (32 - length); }
  constexpr Ipv4Addr network() const { return Ipv4Addr{addr.value & mask()}; }
  constexpr Ipv4Addr directed_broadcast() const { return Ipv4Addr{addr.value | ~mask()}; }
  constexpr bool contains(Ipv4Addr a) const { return (a.value & mask()) == network().value; }
  std::string to_string() const;
  friend constexpr bool operator==(Ipv4Prefix, Ipv4Prefix) = default;
};

struct MacAddr {
  std::array<uint8_t, 6> bytes{};

  static constexpr MacAddr broadcast() { return MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  static std::optional<MacAddr> parse(std::string_view text);
  std::string to_string() const;
  constexpr bool is_broadcast() const { return *this == broadcast(); }
  constexpr bool is_multicast() const { return (bytes[0] & 1) != 0; }
  constexpr bool is_zero() const { return *this == MacAddr{}; }
  friend constexpr bool operator==(const MacAddr&, const MacAddr&) = default;
};

}  // namespace redline::net
