// Fuzz target: the TCP header and option codec (stack/wire/tcp.hpp), which reads what any peer
// sends before a connection has judged it.
//
// Input: the first byte picks how many of the following bytes are an options area to parse
// (any length, as parse_options may be handed by a stage that trusted a data offset); the rest
// is a TCP header with its options as they arrive, and after it the fields of an Options value
// to write. Asserted:
//  - parse_options reads only inside the area it is given (ASan: the area is its own buffer);
//  - a header written from what read_header and parse_options found reads back the same, and
//    header_len() is 20 plus what write_options wrote;
//  - write_options writes exactly options_len() bytes, a multiple of 4, at most 40 (RFC 9293
//    §3.1: the data offset counts 32-bit words, 15 at most), and parsing them gives the same
//    Options back (RFC 7323 §2.3: a window shift above 14 reads as 14).
#include <cstring>
#include <vector>

#include "stack/wire/checksum.hpp"
#include "stack/wire/tcp.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace redline;
namespace f = wire::tcp;
using Bytes = std::vector<uint8_t>;

namespace {

void check_parsed(const f::Options& o) {
  FUZZ_CHECK(o.sack_count <= f::kMaxSackBlocks);
  if (o.window_shift) FUZZ_CHECK(*o.window_shift <= f::kMaxWindowShift);
}

// The options as a sender would choose them, within the 40 bytes the header has room for.
f::Options options_from(fuzz::Input& in) {
  f::Options o;
  const uint8_t which = in.u8();
  if (which & 1) o.mss = in.u16();
  if (which & 2) o.window_shift = uint8_t(in.u8() % (f::kMaxWindowShift + 1));
  o.sack_permitted = which & 4;
  if (which & 8) {
    o.has_timestamps = true;
    o.ts_val = in.u32();
    o.ts_ecr = in.u32();
  }
  const size_t want = (which >> 4) % (f::kMaxSackBlocks + 1);
  for (size_t k = 0; k < want; ++k) {
    o.sack[k] = {in.u32(), in.u32()};
    o.sack_count = uint8_t(k + 1);
  }
  // The caller's duty (write_options' comment): drop blocks until the whole fits.
  while (o.sack_count && f::options_len(o) > f::kMaxOptionsLen) o.sack[--o.sack_count] = {};
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  // 1. An options area of any length, parsed on its own.
  const Bytes area = in.bytes(in.u8());
  check_parsed(f::parse_options(area.data(), area.size()));

  // 2. A header as it arrives: read, then written back from what was read.
  const Bytes seg = in.bytes(in.u8() % (f::kMaxHeaderLen + 1));
  if (seg.size() >= f::kMinHeaderLen) {
    const f::Header h = f::read_header(seg.data());
    const size_t hl = f::header_len(seg.data());
    FUZZ_CHECK(hl % 4 == 0 && hl <= f::kMaxHeaderLen);
    FUZZ_CHECK(f::src_port(seg.data()) == h.src_port && f::dst_port(seg.data()) == h.dst_port &&
               f::flags(seg.data()) == h.flags);
    // tcp_stage.cpp's checks before it parses: a data offset below 20 or past the segment is
    // dropped.
    if (hl >= f::kMinHeaderLen && hl <= seg.size()) {
      const Bytes opts(seg.begin() + f::kMinHeaderLen, seg.begin() + long(hl));
      const f::Options o = f::parse_options(opts.data(), opts.size());
      check_parsed(o);
      Bytes out(f::kMinHeaderLen + f::options_len(o));
      FUZZ_CHECK(f::options_len(o) <= 4 + 4 + 12 + 4 + 8 * f::kMaxSackBlocks);  // every kind once
      if (f::options_len(o) <= f::kMaxOptionsLen) {
        const size_t written = f::write_header(out.data(), h, o);
        FUZZ_CHECK(written == out.size() && f::header_len(out.data()) == written);
        const f::Header back = f::read_header(out.data());
        FUZZ_CHECK(back.src_port == h.src_port && back.dst_port == h.dst_port && back.seq == h.seq &&
                   back.ack == h.ack && back.flags == h.flags && back.window == h.window);
        const f::Options reparsed = f::parse_options(out.data() + f::kMinHeaderLen, written - f::kMinHeaderLen);
        FUZZ_CHECK(fuzz::same_options(reparsed, o));
      }
    }
  }

  // 3. Options chosen by a sender: written, measured, parsed back.
  const f::Options o = options_from(in);
  const size_t len = f::options_len(o);
  FUZZ_CHECK(len % 4 == 0 && len <= f::kMaxOptionsLen);
  Bytes out(len);  // exactly what options_len promises: a longer write is a heap overflow
  FUZZ_CHECK(f::write_options(out.data(), o) == len);
  const f::Options back = f::parse_options(out.data(), out.size());
  FUZZ_CHECK(fuzz::same_options(back, o) && back == o);  // a fresh Options: no stale blocks either

  // A whole segment with those options and a payload: its checksum, as MbufEnv writes it,
  // verifies as tcp_stage.cpp checks it (RFC 9293 §3.1 pseudo-header).
  const Bytes payload = in.rest();
  Bytes segment(f::kMinHeaderLen + len + payload.size());
  const size_t hl = f::write_header(segment.data(), {1, 2, 3, 4, f::kAck_, 5}, o);
  FUZZ_CHECK(hl == f::kMinHeaderLen + len);
  if (!payload.empty()) std::memcpy(segment.data() + hl, payload.data(), payload.size());
  if (segment.size() <= 0xffff) {
    const uint32_t pseudo = f::pseudo_header_sum(0x0a000001, 0x0a000002, 6, uint16_t(segment.size()));
    wire::store16(segment.data(), f::kChecksum, uint16_t(~wire::ones_complement_sum(segment.data(), segment.size(), pseudo)));
    FUZZ_CHECK(wire::ones_complement_sum(segment.data(), segment.size(), pseudo) == 0xffff);
  }
  return 0;
}
