// Parsers read only the bytes they are given: each input is placed flush against a PROT_NONE
// page, so one byte too far faults the test instead of passing silently.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "golden.hpp"
#include "stack/wire/arp.hpp"
#include "stack/wire/ipv4.hpp"

using namespace redline;

namespace {
class GuardedBuffer {
 public:
  GuardedBuffer() {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    base_ = static_cast<uint8_t*>(mmap(nullptr, page_ * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mprotect(base_ + page_, page_, PROT_NONE);
  }
  ~GuardedBuffer() { munmap(base_, page_ * 2); }
  // Copies `n` bytes so that the last one sits right before the guard page.
  const uint8_t* place(const uint8_t* data, size_t n) {
    uint8_t* at = base_ + page_ - n;
    std::memcpy(at, data, n);
    return at;
  }

 private:
  size_t page_;
  uint8_t* base_;
};
}  // namespace

TEST(GuardPage, Ipv4ParseStaysWithinEveryPrefixOfAPacket) {
  GuardedBuffer buf;
  auto p = golden::kEchoRequest;
  for (size_t n = 0; n <= p.size(); ++n) {
    const uint8_t* at = buf.place(p.data(), n);
    (void)wire::ipv4::parse(at, n);
  }
  p[0] = 0x4f;  // claims a 60-byte header in 32 bytes
  const uint8_t* at = buf.place(p.data(), p.size());
  EXPECT_FALSE(wire::ipv4::parse(at, p.size()).repr);
}

TEST(GuardPage, ArpParseStaysWithinEveryPrefixOfAPacket) {
  GuardedBuffer buf;
  const auto& p = golden::kArpRequest;
  for (size_t n = 0; n <= p.size(); ++n) {
    const uint8_t* at = buf.place(p.data(), n);
    auto r = wire::arp::parse(at, n);
    EXPECT_EQ(bool(r.repr), n == p.size());
  }
}
