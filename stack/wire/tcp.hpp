// TCP header (RFC 9293 §3.1) and its options: MSS (§3.7.1), window scale and timestamps
// (RFC 7323 §2.2, §3.2), SACK-permitted and SACK (RFC 2018 §2, §3).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "stack/wire/bytes.hpp"

namespace redline::wire::tcp {

constexpr size_t kSrcPort = 0;
constexpr size_t kDstPort = 2;
constexpr size_t kSeq = 4;
constexpr size_t kAck = 8;
constexpr size_t kDataOffset = 12;  // high nibble: header length in 32-bit words
constexpr size_t kFlags = 13;
constexpr size_t kWindow = 14;
constexpr size_t kChecksum = 16;
constexpr size_t kUrgent = 18;
constexpr size_t kMinHeaderLen = 20;
constexpr size_t kMaxHeaderLen = 60;
constexpr size_t kMaxOptionsLen = kMaxHeaderLen - kMinHeaderLen;
// The timestamps option as every segment carries it once negotiated: NOP NOP + 10 (RFC 7323 §3).
constexpr size_t kTimestampsOptionLen = 12;

constexpr uint8_t kFin = 0x01;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kPsh = 0x08;
constexpr uint8_t kAck_ = 0x10;  // the flag (kAck is the field offset)
constexpr uint8_t kUrg = 0x20;

// Option kinds (IANA "TCP Option Kind Numbers").
constexpr uint8_t kOptEnd = 0;
constexpr uint8_t kOptNop = 1;
constexpr uint8_t kOptMss = 2;
constexpr uint8_t kOptWindowScale = 3;
constexpr uint8_t kOptSackPermitted = 4;
constexpr uint8_t kOptSack = 5;
constexpr uint8_t kOptTimestamps = 8;

constexpr uint8_t kMaxWindowShift = 14;  // RFC 7323 §2.3
constexpr size_t kMaxSackBlocks = 4;     // 4 fit in 40 bytes of options; 3 beside timestamps

struct SackBlock {
  uint32_t left = 0;   // first sequence number of the block
  uint32_t right = 0;  // the one after its last
  friend bool operator==(const SackBlock&, const SackBlock&) = default;
};

// The options of one segment, as parsed or to be written.
struct Options {
  std::optional<uint16_t> mss;
  std::optional<uint8_t> window_shift;
  bool sack_permitted = false;
  bool has_timestamps = false;
  uint32_t ts_val = 0;
  uint32_t ts_ecr = 0;
  uint8_t sack_count = 0;
  std::array<SackBlock, kMaxSackBlocks> sack{};
  friend bool operator==(const Options&, const Options&) = default;
};

inline uint16_t src_port(const uint8_t* p) { return load16(p, kSrcPort); }
inline uint16_t dst_port(const uint8_t* p) { return load16(p, kDstPort); }
inline uint8_t flags(const uint8_t* p) { return load8(p, kFlags); }
inline size_t header_len(const uint8_t* p) { return size_t(load8(p, kDataOffset) >> 4) * 4; }

// Parses the options area `p[0..len)`. RFC 9293 §3.1: unknown kinds are skipped by their
// length; a malformed list (a length below 2 or past the end) stops parsing and keeps what was
// read before it (RFC 9293 §3.1 "MUST be prepared to handle an illegal option length ... by
// resetting the connection" is for lengths that lie; we take the conservative half and ignore
// the rest). Options with the wrong length for their kind are ignored.
inline Options parse_options(const uint8_t* p, size_t len) {
  Options o;
  size_t i = 0;
  while (i < len) {
    const uint8_t kind = p[i];
    if (kind == kOptEnd) break;
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= len) break;
    const uint8_t olen = p[i + 1];
    if (olen < 2 || i + olen > len) break;
    const uint8_t* v = p + i + 2;
    switch (kind) {
      case kOptMss:
        if (olen == 4) o.mss = load16(v, 0);
        break;
      case kOptWindowScale:
        // RFC 7323 §2.3: a shift above 14 is used as 14.
        if (olen == 3) o.window_shift = v[0] > kMaxWindowShift ? kMaxWindowShift : v[0];
        break;
      case kOptSackPermitted:
        if (olen == 2) o.sack_permitted = true;
        break;
      case kOptSack:
        if (olen >= 10 && (olen - 2) % 8 == 0) {
          const size_t n = (olen - 2) / 8;
          o.sack_count = 0;
          for (size_t k = 0; k < n && k < kMaxSackBlocks; ++k)
            o.sack[o.sack_count++] = {load32(v, k * 8), load32(v, k * 8 + 4)};
        }
        break;
      case kOptTimestamps:
        if (olen == 10) {
          o.has_timestamps = true;
          o.ts_val = load32(v, 0);
          o.ts_ecr = load32(v, 4);
        }
        break;
      default:
        break;
    }
    i += olen;
  }
  return o;
}

// Bytes write_options will take for `o` (a multiple of 4, at most 40).
inline size_t options_len(const Options& o) {
  size_t n = 0;
  if (o.mss) n += 4;
  if (o.window_shift) n += 4;              // NOP + 3
  if (o.has_timestamps) n += kTimestampsOptionLen;  // NOP NOP + 10 (or SACK-permitted + 10)
  else if (o.sack_permitted) n += 4;       // NOP NOP + 2
  // NOP NOP, kind and length, then 8 bytes per block (RFC 2018 §3).
  if (o.sack_count) n += 4 + 8 * size_t(o.sack_count);
  return n;
}

// Writes `o` at `p` in the layout Linux uses (so captures read the same), padded with NOPs to
// a multiple of 4; returns the bytes written (options_len(o)). The caller keeps the total
// within 40 bytes: SACK blocks beside timestamps at most 3 (RFC 2018 §3).
inline size_t write_options(uint8_t* p, const Options& o) {
  size_t i = 0;
  if (o.mss) {
    p[i++] = kOptMss;
    p[i++] = 4;
    store16(p, i, *o.mss);
    i += 2;
  }
  if (o.has_timestamps) {
    if (o.sack_permitted) {
      p[i++] = kOptSackPermitted;
      p[i++] = 2;
    } else {
      p[i++] = kOptNop;
      p[i++] = kOptNop;
    }
    p[i++] = kOptTimestamps;
    p[i++] = 10;
    store32(p, i, o.ts_val);
    store32(p, i + 4, o.ts_ecr);
    i += 8;
  } else if (o.sack_permitted) {
    p[i++] = kOptNop;
    p[i++] = kOptNop;
    p[i++] = kOptSackPermitted;
    p[i++] = 2;
  }
  if (o.window_shift) {
    p[i++] = kOptNop;
    p[i++] = kOptWindowScale;
    p[i++] = 3;
    p[i++] = *o.window_shift;
  }
  if (o.sack_count) {
    p[i++] = kOptNop;
    p[i++] = kOptNop;
    p[i++] = kOptSack;
    p[i++] = uint8_t(2 + 8 * o.sack_count);
    for (size_t k = 0; k < o.sack_count; ++k) {
      store32(p, i, o.sack[k].left);
      store32(p, i + 4, o.sack[k].right);
      i += 8;
    }
  }
  return i;
}

// The fixed header fields in host units.
struct Header {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;  // as on the wire (not yet scaled)
};

// Writes the fixed header and `o` at `p`, checksum zero; returns the header length.
inline size_t write_header(uint8_t* p, const Header& h, const Options& o) {
  const size_t hlen = kMinHeaderLen + write_options(p + kMinHeaderLen, o);
  store16(p, kSrcPort, h.src_port);
  store16(p, kDstPort, h.dst_port);
  store32(p, kSeq, h.seq);
  store32(p, kAck, h.ack);
  store8(p, kDataOffset, uint8_t((hlen / 4) << 4));
  store8(p, kFlags, h.flags);
  store16(p, kWindow, h.window);
  store16(p, kChecksum, 0);
  store16(p, kUrgent, 0);
  return hlen;
}

inline Header read_header(const uint8_t* p) {
  return {load16(p, kSrcPort), load16(p, kDstPort), load32(p, kSeq), load32(p, kAck), load8(p, kFlags), load16(p, kWindow)};
}

// RFC 9293 §3.1 pseudo-header sum (source, destination, zero, protocol, TCP length), in host
// order, for ones_complement_sum's `initial`. UDP uses the same form (RFC 768).
inline uint32_t pseudo_header_sum(uint32_t src, uint32_t dst, uint8_t protocol, uint16_t l4_len) {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + protocol + l4_len;
}

}  // namespace redline::wire::tcp
