// When to re-check a neighbor (RFC 1122 §2.3.2.1: cache entries must be validated or flushed),
// one timer per entry on the ARP owner's timer wheel.
//
// Problem: a table walk every few milliseconds costs O(entries) however few are due, and a
// table learned all at once comes due all at once. Choice: each entry's timer fires when it
// is due (O(1) per entry), and what it fires is a request to probe, which the owner paces (see
// arp_owner.cpp) so 4096 neighbors learned together never mean 4096 requests in one TX burst.
//
// An entry is reachable for `reachable` ticks after it was last confirmed; then it is probed
// every `probe_interval` ticks, and removed after `probes` unanswered probes. A next hop that
// failed resolution is held as unreachable for `failed_hold` ticks, then forgotten.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "stack/net/types.hpp"
#include "stack/timer/timer_wheel.hpp"

namespace redline::arp {

struct AgingTicks {
  uint64_t reachable = 1;
  uint64_t probe_interval = 1;
  uint32_t probes = 3;
  uint64_t failed_hold = 1;
};

class NeighborAging {
 public:
  struct Events {
    virtual void probe(net::Ipv4Addr ip, uint16_t port) = 0;  // send a refresh request
    virtual void expired(net::Ipv4Addr ip) = 0;               // remove it from the table

   protected:
    ~Events() = default;
  };

  NeighborAging(timer::Wheel& wheel, AgingTicks policy, Events& events) : wheel_(wheel), policy_(policy), events_(events) {}
  ~NeighborAging() {
    for (auto& [ip, e] : entries_) wheel_.cancel(e.timer);
  }
  NeighborAging(const NeighborAging&) = delete;
  NeighborAging& operator=(const NeighborAging&) = delete;

  // The neighbor answered (learned or merged): reachable again from now.
  void confirmed(net::Ipv4Addr ip, uint16_t port) { arm(ip, port, false, policy_.reachable); }
  // Resolution failed: held as unreachable, then forgotten.
  void failed(net::Ipv4Addr ip, uint16_t port) { arm(ip, port, true, policy_.failed_hold); }
  // The table dropped it for another reason.
  void forget(net::Ipv4Addr ip) {
    auto it = entries_.find(ip.value);
    if (it == entries_.end()) return;
    wheel_.cancel(it->second.timer);
    entries_.erase(it);
  }
  size_t size() const { return entries_.size(); }
  // A new policy (a reload) applies from each entry's next confirmation or probe.
  void set_policy(AgingTicks policy) { policy_ = policy; }

 private:
  struct Entry {
    timer::Timer timer;
    NeighborAging* owner = nullptr;
    net::Ipv4Addr ip;
    uint16_t port = 0;
    uint32_t probes_sent = 0;
    bool failed = false;
  };

  void arm(net::Ipv4Addr ip, uint16_t port, bool failed, uint64_t after) {
    auto [it, created] = entries_.try_emplace(ip.value);
    Entry& e = it->second;
    if (created) {
      e.owner = this;
      e.ip = ip;
      e.timer.set_callback(&NeighborAging::on_timer, &e);
    }
    e.port = port;
    e.probes_sent = 0;
    e.failed = failed;
    wheel_.schedule(e.timer, wheel_.now() + after);
  }

  static void on_timer(timer::Timer&, void* ctx) {
    auto& e = *static_cast<Entry*>(ctx);
    e.owner->due(e);
  }
  void due(Entry& e) {
    if (e.failed || e.probes_sent >= policy_.probes) {
      const net::Ipv4Addr ip = e.ip;
      entries_.erase(ip.value);  // the wheel has unlinked the timer before calling us
      events_.expired(ip);
      return;
    }
    ++e.probes_sent;
    wheel_.schedule(e.timer, wheel_.now() + policy_.probe_interval);
    events_.probe(e.ip, e.port);
  }

  timer::Wheel& wheel_;
  AgingTicks policy_;
  Events& events_;
  std::unordered_map<uint32_t, Entry> entries_;
};

}  // namespace redline::arp
