#include "stack/rss/reta.hpp"

namespace redline::rss {

RetaMirror::RetaMirror(uint32_t workers, uint32_t size)
    : workers_(workers == 0 ? 1 : workers), table_(size == 0 ? 1 : size) {
  const uint32_t n = uint32_t(table_.size());
  mask_ = (n > 1 && (n & (n - 1)) == 0) ? n - 1 : 0;
  for (uint32_t i = 0; i < n; ++i) table_[i] = uint16_t(i % workers_);
}

std::vector<uint16_t> nic_reta(const RetaMirror& mirror, uint32_t nic_size) {
  std::vector<uint16_t> reta(nic_size);
  for (uint32_t i = 0; i < nic_size; ++i) reta[i] = uint16_t(mirror.entry(i));
  return reta;
}

}  // namespace redline::rss
