// Packets waiting for their next hop's MAC (RFC 1122 §2.3.2.2: keep at least one, drop the
// oldest or newest when full), with the retry and give-up schedule of the resolution.
//
// Owned by the one core that owns the neighbor table, so it needs no synchronisation. Generic
// over the packet handle so unit tests can use plain integers instead of mbufs. Bounded in both
// directions: at most `max_neighbors` resolutions at once and `per_neighbor` packets each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <unordered_map>
#include <vector>

#include "stack/net/types.hpp"

namespace redline::arp {

struct ResolveTiming {
  uint64_t retry_ns = 1'000'000'000;
  uint32_t retries = 3;  // requests sent in all before giving up
};

template <typename Packet>
class PendingQueue {
 public:
  enum class Result {
    kQueuedFirst,   // a new resolution started: send the first request now
    kQueued,        // joined a resolution in progress
    kQueueFull,     // this neighbor's queue is full: caller drops the packet
    kTooManyNeighbors,
  };

  PendingQueue(size_t max_neighbors, size_t per_neighbor, ResolveTiming timing)
      : max_neighbors_(max_neighbors), per_neighbor_(per_neighbor), timing_(timing) {}

  Result enqueue(net::Ipv4Addr ip, uint16_t port, Packet p, uint64_t now_ns) {
    auto it = waiting_.find(ip.value);
    if (it == waiting_.end()) {
      if (waiting_.size() >= max_neighbors_ || per_neighbor_ == 0) return Result::kTooManyNeighbors;
      Resolution r;
      r.port = port;
      r.sent = 1;
      r.next_retry_ns = now_ns + timing_.retry_ns;
      r.packets.push_back(p);
      waiting_.emplace(ip.value, std::move(r));
      ++held_;
      return Result::kQueuedFirst;
    }
    if (it->second.packets.size() >= per_neighbor_) return Result::kQueueFull;
    it->second.packets.push_back(p);
    ++held_;
    return Result::kQueued;
  }

  // The neighbor answered: hand its packets over in arrival order.
  template <typename Fn>
  void resolved(net::Ipv4Addr ip, Fn&& send) {
    auto it = waiting_.find(ip.value);
    if (it == waiting_.end()) return;
    Resolution r = std::move(it->second);
    waiting_.erase(it);
    held_ -= r.packets.size();
    for (Packet& p : r.packets) send(p);
  }

  bool resolving(net::Ipv4Addr ip) const { return waiting_.count(ip.value) != 0; }

  // Sends due retries through `retry(ip, port)` and gives up on resolutions that used all their
  // requests, passing each of their packets to `fail(packet)` once the walk is over: `fail` may
  // enqueue again (an ICMP error whose own next hop is unknown), which must not rehash the map
  // under the loop.
  template <typename Retry, typename Fail>
  void tick(uint64_t now_ns, Retry&& retry, Fail&& fail) {
    std::vector<Packet> failed;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      Resolution& r = it->second;
      if (now_ns < r.next_retry_ns) {
        ++it;
        continue;
      }
      if (r.sent >= timing_.retries) {
        held_ -= r.packets.size();
        failed.insert(failed.end(), r.packets.begin(), r.packets.end());
        it = waiting_.erase(it);
        continue;
      }
      ++r.sent;
      r.next_retry_ns = now_ns + timing_.retry_ns;
      retry(net::Ipv4Addr{it->first}, r.port);
      ++it;
    }
    for (Packet& p : failed) fail(p);
  }

  // Empties everything (shutdown), passing each packet to `drop`.
  template <typename Fn>
  void drain(Fn&& drop) {
    for (auto& [ip, r] : waiting_)
      for (Packet& p : r.packets) drop(p);
    waiting_.clear();
    held_ = 0;
  }

  size_t neighbors() const { return waiting_.size(); }
  size_t packets() const { return held_; }

 private:
  struct Resolution {
    uint16_t port = 0;
    uint32_t sent = 0;
    uint64_t next_retry_ns = 0;
    std::deque<Packet> packets;
  };

  size_t max_neighbors_;
  size_t per_neighbor_;
  ResolveTiming timing_;
  size_t held_ = 0;
  std::unordered_map<uint32_t, Resolution> waiting_;
};

}  // namespace redline::arp
