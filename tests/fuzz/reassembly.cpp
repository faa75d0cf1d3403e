// Fuzz target: IPv4 reassembly for redline's own addresses (stack/pipeline/reassembly.hpp, on
// DPDK's rte_ip_frag table), driven by hostile fragment sequences: overlaps, duplicates, holes,
// lying lengths at the end, fragments of four datagrams interleaved, time moving on between them
// (expiry), a table of 4 datagrams that fills up.
//
// The only target with EAL (no hugepages, no shared config files, no devices): reassembly lives in DPDK and
// takes mbufs. Every fragment is a valid IPv4 header (classify drops the rest before reassembly)
// whose payload byte at datagram offset p is pattern(id, p), so whatever DPDK puts together can be
// checked byte by byte.
//
// Input: a list of fragments, each [datagram 0-3][offset in 8-byte units, 16 bits (13 used)]
// [more-fragments flag][payload length / 8 - 1][ticks to wait first].
// Asserts: a completed datagram is a chain whose length, IPv4 total length and payload agree
// with the pattern; after the table is destroyed, every mbuf is back in the pool (no leak).
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "stack/pipeline/reassembly.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/ipv4.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace redline;

namespace {

rte_mempool* g_pool = nullptr;
constexpr uint32_t kPoolSize = 1023;
constexpr uint64_t kTimeout = 1000;  // ticks a datagram's fragments wait
constexpr uint32_t kSrc = 0x0a000001, kDst = 0x0a000002;

uint8_t pattern(uint8_t id, uint32_t at) { return uint8_t(id * 31 + at * 7 + (at >> 8)); }

rte_mbuf* fragment(uint8_t id, uint32_t offset8, bool more, uint32_t len) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  if (!m) return nullptr;
  const uint32_t ip_len = wire::ipv4::kMinHeaderLen + len;
  uint8_t* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(wire::eth::kHeaderLen + ip_len)));
  if (!p) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memset(p, 0, wire::eth::kHeaderLen);
  wire::store16(p, wire::eth::kType, wire::eth::kTypeIpv4);
  wire::ipv4::Repr r;
  r.total_len = uint16_t(ip_len);
  r.ident = uint16_t(0x100 + id);
  r.flags_fragment = uint16_t((more ? wire::ipv4::kFlagMoreFragments : 0) | (offset8 & wire::ipv4::kFragmentOffsetMask));
  r.ttl = 64;
  r.protocol = 17;
  r.src = net::Ipv4Addr{kSrc};
  r.dst = net::Ipv4Addr{kDst};
  uint8_t* ip = p + wire::eth::kHeaderLen;
  wire::ipv4::write(ip, r);
  for (uint32_t i = 0; i < len; ++i) ip[wire::ipv4::kMinHeaderLen + i] = pattern(id, offset8 * 8 + i);
  return m;
}

void check_datagram(rte_mbuf* d) {
  FUZZ_CHECK(rte_pktmbuf_pkt_len(d) >= wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen);
  std::vector<uint8_t> copy(rte_pktmbuf_pkt_len(d));
  const auto* bytes = static_cast<const uint8_t*>(rte_pktmbuf_read(d, 0, uint32_t(copy.size()), copy.data()));
  FUZZ_CHECK(bytes != nullptr);
  const uint8_t* ip = bytes + wire::eth::kHeaderLen;
  const uint32_t ihl = wire::ipv4::header_len(ip);
  const uint32_t total = wire::load16(ip, wire::ipv4::kTotalLength);
  FUZZ_CHECK(total == copy.size() - wire::eth::kHeaderLen);
  FUZZ_CHECK((wire::load16(ip, wire::ipv4::kFlagsFragment) & (wire::ipv4::kFlagMoreFragments | wire::ipv4::kFragmentOffsetMask)) == 0);
  const uint8_t id = uint8_t(wire::load16(ip, wire::ipv4::kIdent) - 0x100);
  for (uint32_t at = 0; at + ihl < total; ++at) FUZZ_CHECK(ip[ihl + at] == pattern(id, at));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static char* args[] = {const_cast<char*>("reassembly_fuzz"), const_cast<char*>("--no-huge"), const_cast<char*>("-m"),
                         const_cast<char*>("256"), const_cast<char*>("--no-pci"), const_cast<char*>("--no-shconf"),
                         const_cast<char*>("--no-telemetry"), const_cast<char*>("--log-level=*:error"),
                         const_cast<char*>("-l"), const_cast<char*>("0")};
  if (rte_eal_init(int(sizeof(args) / sizeof(args[0])), args) < 0) {
    std::fprintf(stderr, "reassembly fuzz: rte_eal_init failed\n");
    std::abort();
  }
  g_pool = rte_pktmbuf_pool_create("fuzz_frag", kPoolSize, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (!g_pool) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  std::string error;
  auto table = pipeline::Reassembly::create(4, kTimeout, SOCKET_ID_ANY, &error);
  FUZZ_CHECK(table != nullptr);
  uint64_t now = 1;
  for (int n = 0; n < 64 && !in.empty(); ++n) {
    const uint8_t id = in.u8() & 3;
    const uint32_t offset8 = in.u16() & 0x1fff;
    const bool more = in.flag();
    // RFC 791: every fragment but the last carries a multiple of 8 bytes.
    const uint32_t len = more ? (uint32_t(in.u8() % 180) + 1) * 8 : uint32_t(in.u16() % 1440) + 1;
    now += in.u8() * 8;
    if (!more && offset8 == 0) continue;  // a whole datagram: never handed to reassembly
    if (offset8 * 8 + len > 65535 - wire::ipv4::kMinHeaderLen) continue;  // no valid header says that
    rte_mbuf* m = fragment(id, offset8, more, len);
    if (!m) break;
    const pipeline::Reassembly::Result r = table->add(m, wire::eth::kHeaderLen, wire::ipv4::kMinHeaderLen, now);
    if (r.datagram) {
      if (std::getenv("REDLINE_FUZZ_VERBOSE"))
        std::fprintf(stderr, "datagram %u complete: %u bytes\n", unsigned(id), rte_pktmbuf_pkt_len(r.datagram));
      check_datagram(r.datagram);
      rte_pktmbuf_free(r.datagram);
    }
    if (n % 8 == 7) table->expire(now);
  }
  table.reset();  // frees what it still holds
  FUZZ_CHECK(rte_mempool_in_use_count(g_pool) == 0);
  return 0;
}
