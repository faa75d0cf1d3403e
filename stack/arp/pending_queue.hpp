// Packets waiting for their next hop's MAC (RFC 1122 §2.3.2.2: keep at least one, drop the
// oldest or newest when full), with the retry and give-up schedule of each resolution on the
// owner core's timer wheel.
//
// Owned by the one core that owns the neighbor table, so it needs no synchronisation. Generic
// over the packet handle so unit tests can use plain integers instead of mbufs. Bounded in both
// directions: at most `max_neighbors` resolutions at once and `per_neighbor` packets each; each
// resolution has its own timer, so many unresolved addresses cost O(1) each per retry, never a
// walk over all of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "stack/net/types.hpp"
#include "stack/timer/timer_wheel.hpp"

namespace redline::arp {

struct ResolveTiming {
  uint64_t retry_ticks = 1;
  uint32_t retries = 3;  // requests sent in all before giving up
};

template <typename Packet>
class PendingQueue {
 public:
  // What the owner does when a resolution's timer fires.
  struct Events {
    virtual void retry(net::Ipv4Addr ip, uint16_t port) = 0;
    // The resolution gave up: `packets` are the owner's now (it is already forgotten, so the
    // owner may enqueue again, e.g. an ICMP error whose own next hop is unknown).
    virtual void failed(net::Ipv4Addr ip, uint16_t port, std::deque<Packet>& packets) = 0;

   protected:
    ~Events() = default;
  };

  enum class Result {
    kQueuedFirst,   // a new resolution started: send the first request now
    kQueued,        // joined a resolution in progress
    kQueueFull,     // this neighbor's queue is full: caller drops the packet
    kTooManyNeighbors,
  };

  PendingQueue(size_t max_neighbors, size_t per_neighbor, ResolveTiming timing, timer::Wheel& wheel, Events& events)
      : max_neighbors_(max_neighbors), per_neighbor_(per_neighbor), timing_(timing), wheel_(wheel), events_(events) {}
  ~PendingQueue() {
    for (auto& [ip, r] : waiting_) wheel_.cancel(r.timer);
  }
  PendingQueue(const PendingQueue&) = delete;
  PendingQueue& operator=(const PendingQueue&) = delete;

  Result enqueue(net::Ipv4Addr ip, uint16_t port, Packet p) {
    auto it = waiting_.find(ip.value);
    if (it == waiting_.end()) {
      if (waiting_.size() >= max_neighbors_ || per_neighbor_ == 0) return Result::kTooManyNeighbors;
      // Built in place: the timer is linked into the wheel and must not move.
      Resolution& r = waiting_.try_emplace(ip.value).first->second;
      r.owner = this;
      r.ip = ip;
      r.port = port;
      r.sent = 1;
      r.packets.push_back(p);
      r.timer.set_callback(&PendingQueue::on_timer, &r);
      wheel_.schedule(r.timer, wheel_.now() + timing_.retry_ticks);
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
    std::deque<Packet> packets = take(it);
    for (Packet& p : packets) send(p);
  }

  bool resolving(net::Ipv4Addr ip) const { return waiting_.count(ip.value) != 0; }
  // New limits (a reload): resolutions in progress keep their packets and finish on the new
  // schedule.
  void set_limits(size_t max_neighbors, size_t per_neighbor, ResolveTiming timing) {
    max_neighbors_ = max_neighbors;
    per_neighbor_ = per_neighbor;
    timing_ = timing;
  }

  // Empties everything (shutdown), passing each packet to `drop`.
  template <typename Fn>
  void drain(Fn&& drop) {
    while (!waiting_.empty())
      for (Packet& p : take(waiting_.begin())) drop(p);
  }

  size_t neighbors() const { return waiting_.size(); }
  size_t packets() const { return held_; }

 private:
  struct Resolution {
    timer::Timer timer;
    PendingQueue* owner = nullptr;
    net::Ipv4Addr ip;
    uint16_t port = 0;
    uint32_t sent = 0;
    std::deque<Packet> packets;
  };
  using Map = std::unordered_map<uint32_t, Resolution>;

  std::deque<Packet> take(typename Map::iterator it) {
    wheel_.cancel(it->second.timer);
    std::deque<Packet> packets = std::move(it->second.packets);
    held_ -= packets.size();
    waiting_.erase(it);
    return packets;
  }

  static void on_timer(timer::Timer&, void* ctx) {
    auto& r = *static_cast<Resolution*>(ctx);
    r.owner->expired(r);
  }
  void expired(Resolution& r) {
    if (r.sent >= timing_.retries) {
      const net::Ipv4Addr ip = r.ip;
      const uint16_t port = r.port;
      std::deque<Packet> packets = take(waiting_.find(ip.value));
      events_.failed(ip, port, packets);
      return;
    }
    ++r.sent;
    wheel_.schedule(r.timer, wheel_.now() + timing_.retry_ticks);
    events_.retry(r.ip, r.port);
  }

  size_t max_neighbors_;
  size_t per_neighbor_;
  ResolveTiming timing_;
  timer::Wheel& wheel_;
  Events& events_;
  size_t held_ = 0;
  Map waiting_;
};

}  // namespace redline::arp
