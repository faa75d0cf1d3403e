// One worker's share of the local ports of one protocol on one local address: the NAT's outside
// ports of an external address, or TCP's ephemeral ports of a source address (local_ports.hpp
// holds every share and the one picker that draws from them).
//
// Problem: every worker makes sessions at line rate, and two must never hand out the same
// outside port. Alternatives: one shared allocator (a lock, or atomics on shared cache lines
// written by every core per new session), or a share per worker. Choice: the range is cut into
// one contiguous block per worker, deterministically from the worker count alone, so a port
// names the worker that gave it out (owner_of) without any lookup: an inbound packet for a
// port is sent to that worker, which holds the mapping. A block is contiguous, not every n-th
// port, so that it holds ports of every low-bit pattern: the RSS steering (port_steering.hpp)
// needs candidates whose hash lands on any worker.
//
// Inside a block: a bitmap of ports in use (scanned a word at a time for free ones from a
// rotating cursor, so choices spread over the block instead of crowding its start) and the
// mapping each port belongs to.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

namespace redline::endpoint {

struct PortRange {
  uint16_t low = 1024;
  uint16_t high = 65535;
  uint32_t size() const { return uint32_t(high) - low + 1; }
  bool contains(uint16_t p) const { return p >= low && p <= high; }
  friend bool operator==(PortRange, PortRange) = default;
};

class PortShare {
 public:
  static constexpr uint32_t kNone = 0xffffffffu;
  static constexpr uint32_t kReserved = 0xfffffffeu;  // held for something else (a DNAT rule's port)

  // Block `worker` of `workers` equal blocks of `range` (the last takes the remainder).
  PortShare(PortRange range, uint32_t worker, uint32_t workers) {
    const uint32_t per = range.size() / workers;
    first_ = uint32_t(range.low) + worker * per;
    count_ = worker + 1 == workers ? range.size() - worker * per : per;
    used_.assign((count_ + 63) / 64, 0);
    // Bits past the end of the block read as used, so the scan never offers them.
    if (count_ % 64) used_.back() = ~uint64_t(0) << (count_ % 64);
    mapping_.assign(count_, kNone);
  }

  // The worker whose block holds `port` (a port in `range`).
  static uint32_t owner_of(PortRange range, uint32_t workers, uint16_t port) {
    const uint32_t per = range.size() / workers;
    const uint32_t w = per == 0 ? 0 : (uint32_t(port) - range.low) / per;
    return w < workers ? w : workers - 1;
  }

  bool contains(uint16_t port) const { return port >= first_ && port < first_ + count_; }
  uint16_t first() const { return uint16_t(first_); }
  uint32_t size() const { return count_; }
  uint32_t in_use() const { return in_use_; }
  // The mapping holding `port` (kNone if free). `port` must be in this block.
  uint32_t mapping(uint16_t port) const { return mapping_[port - first_]; }

  // Takes `port` for `mapping` if it is in this block and free.
  bool take(uint16_t port, uint32_t mapping) {
    if (!contains(port)) return false;
    const uint32_t i = port - first_;
    if (used_[i / 64] >> (i % 64) & 1) return false;
    mark(i, mapping);
    return true;
  }
  void release(uint16_t port) {
    const uint32_t i = port - first_;
    used_[i / 64] &= ~(uint64_t(1) << (i % 64));
    mapping_[i] = kNone;
    --in_use_;
  }

  // Takes a free port for `mapping` for which `wanted(port)` holds: at most `budget` free ports
  // that are not wanted are tried. If none is, the first of those for which `acceptable(port)`
  // holds is taken instead (the caller learns which from `*was_wanted`). nullopt when the block
  // is full or nothing fits. `within`: only ports of that range (a NAT port block), else any.
  template <typename Wanted, typename Acceptable>
  std::optional<uint16_t> pick(uint32_t mapping, Wanted&& wanted, Acceptable&& acceptable, uint32_t budget,
                               bool* was_wanted, const PortRange* within = nullptr) {
    *was_wanted = false;
    if (in_use_ == count_) return std::nullopt;
    // The indices to look at: from the cursor round the whole block, or the window once.
    uint32_t start = cursor_, end = count_;
    if (within) {
      start = std::max<uint32_t>(within->low, first_) - first_;
      end = std::min<uint32_t>(uint32_t(within->high) + 1, first_ + count_) - first_;
      if (start >= end) return std::nullopt;
    }
    std::optional<uint32_t> fallback;
    uint32_t i = start;
    for (uint32_t tried = 0; tried < budget;) {
      i = within ? next_free_before(i, end) : next_free(i);
      if (i == kNone) break;
      if (wanted(uint16_t(first_ + i))) {
        *was_wanted = true;
        return take_index(i, mapping);
      }
      if (!fallback && acceptable(uint16_t(first_ + i))) fallback = i;
      ++tried;
      if (within) {
        if (++i == end) break;
        continue;
      }
      i = i + 1 == count_ ? 0 : i + 1;
      if (i == cursor_) break;  // wrapped: every free port seen
    }
    if (!fallback) return std::nullopt;
    return take_index(*fallback, mapping);
  }

 private:
  uint16_t take_index(uint32_t i, uint32_t mapping) {
    mark(i, mapping);
    cursor_ = i + 1 == count_ ? 0 : i + 1;
    return uint16_t(first_ + i);
  }
  void mark(uint32_t i, uint32_t mapping) {
    used_[i / 64] |= uint64_t(1) << (i % 64);
    mapping_[i] = mapping;
    ++in_use_;
  }
  // The first free index in [i, end), no wrapping; kNone if none.
  uint32_t next_free_before(uint32_t i, uint32_t end) const {
    for (; i < end; ++i)
      if (!(used_[i / 64] >> (i % 64) & 1)) return i;
    return kNone;
  }
  // The first free index at or after `i`, wrapping once; kNone if none.
  uint32_t next_free(uint32_t i) const {
    const size_t words = used_.size();
    size_t w = i / 64;
    uint64_t free_bits = ~used_[w] & (~uint64_t(0) << (i % 64));
    for (size_t n = 0; n <= words; ++n) {
      if (free_bits) return uint32_t(w * 64 + std::countr_zero(free_bits));
      w = w + 1 == words ? 0 : w + 1;
      free_bits = ~used_[w];
    }
    return kNone;
  }

  uint32_t first_ = 0;
  uint32_t count_ = 0;
  uint32_t in_use_ = 0;
  uint32_t cursor_ = 0;
  std::vector<uint64_t> used_;
  std::vector<uint32_t> mapping_;
};

}  // namespace redline::endpoint
