// The owner-core mirror of a NIC's RSS redirection table (RETA), and the rule that programs a
// NIC's RETA from it.
//
// Problem: a NIC delivers a packet with RSS hash h to queue reta[h mod S], S its RETA size (64,
// 128, 512, ... by device; NICs index with the hash's low bits, which for a power of two is h
// mod S). Software must name the same worker for h, both to trust the NIC's delivery and to
// hand off packets that arrive where no RSS spread them (net_tap, net_ring). A fixed 512-entry
// mirror filled `i % workers` disagrees with a 64- or 128-entry RETA when the worker count is
// not a power of two: (h mod 512) mod 3 != (h mod 128) mod 3.
//
// Alternatives: one mirror per port (the owner would depend on the arrival port, but a flow's
// two directions arrive on different ports and must meet on one core), or a mirror of the
// largest RETA (a smaller RETA cannot hold it). Choice: ONE mirror whose size s is the smallest
// RETA among the ports that spread by RSS; every such port, whatever its size S, is programmed
// with the mirror repeated, reta[i] = mirror[i mod s]. The NIC then picks
// mirror[(h mod S) mod s], and (h mod S) mod s = h mod s whenever s divides S (true for
// power-of-two sizes S >= s): exactly software's mirror[h mod s]. A port whose RETA is not a
// multiple of s is not trusted (nic_reta_repeats_mirror) and gets software ownership instead.
#pragma once

#include <cstdint>
#include <vector>

namespace redline::rss {

// hash -> worker, over `size` entries filled round robin. Any size >= 1: powers of two index
// with a mask, other sizes with `%` (a NIC RETA of that size is modelled as reta[h mod size]).
class RetaMirror {
 public:
  static constexpr uint32_t kDefaultSize = 512;  // when no port spreads by RSS: any size works

  explicit RetaMirror(uint32_t workers, uint32_t size = kDefaultSize);

  uint32_t owner(uint32_t hash) const { return table_[index(hash)]; }
  // Entry `i` of a table of any length: the mirror repeated (i mod size()).
  uint32_t entry(uint32_t i) const { return table_[index(i)]; }
  uint32_t workers() const { return workers_; }
  uint32_t size() const { return uint32_t(table_.size()); }

 private:
  uint32_t index(uint32_t h) const { return mask_ ? h & mask_ : h % uint32_t(table_.size()); }

  uint32_t workers_;
  uint32_t mask_;  // size - 1 for power-of-two sizes above 1, else 0 (use %)
  std::vector<uint16_t> table_;
};

// True if a NIC RETA of `nic_size` entries programmed by nic_reta() gives every hash the same
// worker as a mirror of `mirror_size` entries: the mirror's size must divide the NIC's.
constexpr bool nic_reta_repeats_mirror(uint32_t nic_size, uint32_t mirror_size) {
  return nic_size != 0 && mirror_size != 0 && nic_size % mirror_size == 0;
}

// The RETA to program into a NIC with `nic_size` entries: entry i is mirror.entry(i mod size).
// Only meaningful where nic_reta_repeats_mirror(nic_size, mirror.size()).
std::vector<uint16_t> nic_reta(const RetaMirror& mirror, uint32_t nic_size);

}  // namespace redline::rss
