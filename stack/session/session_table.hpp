// One worker's sessions, for every feature that tracks flows: the NAT now, the load balancer
// next (DESIGN.md "One engine per kind of state").
//
// A session is one flow seen from both ends: the tuple its initiator sends (key[0]) and the
// tuple the answers arrive with (key[1]). Both keys point at the same entry of the worker's
// pool, so either direction finds it with one lookup, and the hit says which key matched. An
// entry is the feature's own struct holding the engine's two parts beside its data:
//  - a Stamp (the time of the last packet, the protocol, the feature's flags), written on every
//    packet: the feature keeps it on the cache line its fast path touches;
//  - a Header (the idle timer and both keys), read when the session is made, listed and ended:
//    kept off that line.
// The feature tells the engine how long a session may idle (by protocol, by state), what to
// undo of its own when one ends, and what to warm before a batch of them ends (SessionOwner).
//
// What the engine does for every feature alike:
//  - lookups in bulk (rte_hash's pipelined bulk lookup; each hit's entry prefetched);
//  - creation deferred to the end of the burst (DeferredSessions): one bulk lookup of every new
//    answer tuple warms their buckets, instead of two DRAM misses in a row per session;
//  - idle expiry on the worker's timer wheel, lazily re-armed (a packet only stores its time;
//    a timer that fires on a session used since is put back for what is left), and ended in
//    batches whose keys are looked up in bulk first (one at a time, a session's end was ~10
//    DRAM misses in a row);
//  - listing and ending for the control plane in bounded slices (scan, end), run on the
//    worker's own core by its mailbox (worker_mailbox.hpp);
//  - the feature's counters: made, expired, flushed.
//
// Only the owning worker reads or writes a table: deleted key slots are reused at once (no RCU
// defer queue: it was 9% of a new session's cost). in_use() may be read from any thread.
#pragma once

#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "stack/net/counters.hpp"
#include "stack/net/five_tuple.hpp"
#include "stack/pipeline/flow_table.hpp"
#include "stack/session/session_entry.hpp"
#include "stack/timer/timer_wheel.hpp"

namespace redline::session {

using net::FiveTuple;

// What a feature tells the engine about its sessions.
template <class O, class E>
concept SessionOwner = requires(O& o, E& e, const E& c, std::span<E* const> batch) {
  // How long `c` may idle, in worker ticks (by protocol, by its state).
  { o.timeout_ticks(c) } -> std::same_as<uint64_t>;
  // Undo what the feature links to `e` (the NAT's mapping); its keys are still set.
  o.on_release(e);
  // A batch of sessions is about to end: warm what on_release will touch (bulk lookups).
  o.before_release(batch);
};

// The feature's counters for what the engine does.
struct Counters {
  net::Counter created;
  net::Counter expired;
  net::Counter flushed;
};

// A lookup's answer: the session, and which of its keys matched (0: the initiator's
// direction, 1: the answers').
template <class E>
struct Hit {
  E* entry = nullptr;
  unsigned dir = 0;
  explicit operator bool() const { return entry != nullptr; }
};

template <SessionEntry E, class Owner>
class SessionTable {
 public:
  static constexpr uint32_t kBulkMax = pipeline::FlowTable::kBulkMax;
  static constexpr size_t kExpiryBatch = 32;

  // A table of `capacity` sessions in DPDK's memory on `socket` (hugepages where EAL has them:
  // a million sessions do not then cost a TLB miss each on top of the cache miss). `name` must
  // be unique in the process. Throws std::runtime_error when memory or the hash cannot be had.
  SessionTable(const std::string& name, uint32_t capacity, int socket, timer::Wheel& wheel, net::CounterSet& counters,
               Owner& owner, Counters ids)
      : wheel_(wheel), counters_(counters), owner_(owner), ids_(ids), capacity_(capacity) {
    rte_malloc_socket_stats before{}, after{};
    rte_malloc_get_socket_stats(socket, &before);
    std::string error;
    keys_ = pipeline::FlowTable::create(name, 2 * capacity, socket, nullptr, &error);
    if (!keys_) throw std::runtime_error(error);
    pool_ = static_cast<E*>(rte_malloc_socket(name.c_str(), sizeof(E) * capacity, alignof(E) < 64 ? 64 : alignof(E), socket));
    if (!pool_) throw std::runtime_error("no memory for " + std::to_string(capacity) + " sessions");
    for (uint32_t i = 0; i < capacity; ++i) {
      new (&pool_[i]) E();
      header(pool_[i]).timer.set_callback(&SessionTable::on_idle, this);
    }
    rte_malloc_get_socket_stats(socket, &after);
    // Taken from the top: entry 0 first, as a listing reads them.
    free_.resize(capacity);
    for (uint32_t i = 0; i < capacity; ++i) free_[i] = capacity - 1 - i;
    memory_bytes_ = (after.heap_allocsz_bytes - before.heap_allocsz_bytes) + uint64_t(capacity) * sizeof(uint32_t);
    expiring_.reserve(kExpiryBatch);
    flush_timer_.set_callback(&SessionTable::on_flush_timer, this);
  }
  ~SessionTable() {
    if (flush_timer_.pending()) wheel_.cancel(flush_timer_);
    for (uint32_t i = 0; i < capacity_; ++i) {
      if (header(pool_[i]).timer.pending()) wheel_.cancel(header(pool_[i]).timer);
      pool_[i].~E();
    }
    rte_free(pool_);
  }
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  uint32_t capacity() const { return capacity_; }
  // Any thread.
  uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  bool full() const { return free_.empty(); }
  // What the pool, the key table and the free list take (fixed at start).
  uint64_t memory_bytes() const { return memory_bytes_; }
  E& at(uint32_t index) { return pool_[index]; }
  const E& at(uint32_t index) const { return pool_[index]; }
  uint32_t index_of(const E& e) const { return uint32_t(&e - pool_); }

  // --- lookups ---
  // keys[0..n), n <= kBulkMax: the hit mask, hits[i] set for each hit, its entry's first cache
  // line already on its way (at a million sessions each is a miss, and they overlap).
  uint64_t find_bulk(const FiveTuple* keys, uint32_t n, Hit<E>* hits) {
    void* data[kBulkMax];
    made_since_bulk_ = false;
    const uint64_t mask = n ? keys_->find_bulk(keys, n, data) : 0;
    for (uint64_t h = mask; h; h &= h - 1) {
      const uint32_t i = uint32_t(__builtin_ctzll(h));
      hits[i] = decode(data[i]);
      rte_prefetch0(hits[i].entry);
    }
    return mask;
  }
  Hit<E> find(const FiveTuple& key) const { return decode(keys_->find(key)); }
  // A session made since the last find_bulk, or none: a new flow's first packets arrive
  // together (a TCP SYN and its data, traceroute's probes), so a later one in the burst missed
  // the bulk lookup while the first was making the session.
  Hit<E> find_made_since_bulk(const FiveTuple& key) const { return made_since_bulk_ ? find(key) : Hit<E>{}; }
  // Which of keys[0..n) are taken (a mask), their buckets warmed for the inserts that follow.
  uint64_t taken(const FiveTuple* keys, uint32_t n) const {
    void* data[kBulkMax];
    return n ? keys_->find_bulk(keys, n, data) : 0;
  }

  // --- making and ending ---
  // A session for a flow whose initiator sends `key` and whose answers carry `answer`, last used
  // `now` (a worker tick). `init` fills the feature's data before the idle timer is armed by
  // the feature's timeout. Null when the table is full or a key could not be added (the caller
  // counts its refusal); `answer` must not be taken (taken()).
  template <class Init>
  E* insert(const FiveTuple& key, const FiveTuple& answer, uint64_t now, Init&& init) {
    if (free_.empty()) return nullptr;
    E& e = pool_[free_.back()];
    const uintptr_t ptr = reinterpret_cast<uintptr_t>(&e);
    if (!keys_->add(key, reinterpret_cast<void*>(ptr))) return nullptr;
    if (!keys_->add(answer, reinterpret_cast<void*>(ptr | 1))) {
      keys_->remove(key);
      return nullptr;
    }
    free_.pop_back();
    Header& h = header(e);
    h.key[0] = key;
    h.key[1] = answer;
    stamp(e) = Stamp{uint32_t(now), key.protocol, 0};
    init(e);
    wheel_.schedule(h.timer, now + owner_.timeout_ticks(e));
    in_use_.store(in_use_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    counters_.add(ids_.created);
    made_since_bulk_ = true;
    return &e;
  }
  // Ends `e` now: the feature's on_release, both keys, the timer.
  void release(E& e) {
    Header& h = header(e);
    owner_.on_release(e);
    keys_->remove(h.key[0]);
    keys_->remove(h.key[1]);
    if (h.timer.pending()) wheel_.cancel(h.timer);
    stamp(e).protocol = 0;
    free_.push_back(index_of(e));
    in_use_.store(in_use_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  // Ends `e` for the control plane (a flush), counted as flushed.
  void end(E& e) {
    // Its timer may have fired already: it then waits in the expiry batch, which must not end
    // it a second time.
    std::erase(expiring_, &e);
    release(e);
    counters_.add(ids_.flushed);
  }
  // The feature's timeout for `e` changed (a TCP session left the established state): applies
  // from `now`, not from the old, later expiry. A longer one needs nothing (the lazy check).
  void rearm(E& e, uint64_t now) { wheel_.schedule(header(e).timer, now + owner_.timeout_ticks(e)); }

  // --- the control plane's view (on the worker's core) ---
  // Calls visit(e) for each live session among up to `budget` pool entries from `from`, until
  // visit returns false; returns the index to go on from (capacity() when done).
  template <class Visit>
  uint32_t scan(uint32_t from, uint32_t budget, Visit&& visit) {
    const uint32_t end = uint32_t(std::min<uint64_t>(capacity_, uint64_t(from) + budget));
    for (uint32_t i = from; i < end; ++i)
      if (stamp(pool_[i]).protocol != 0 && !visit(pool_[i])) return i + 1;
    return end;
  }
  // Ticks since `e`'s last packet, and until it ends if none comes.
  uint64_t idle_ticks(const E& e, uint64_t now) const { return uint32_t(uint32_t(now) - stamp(e).last_used); }
  uint64_t remaining_ticks(const E& e, uint64_t now) const {
    const uint64_t idle = idle_ticks(e, now), timeout = owner_.timeout_ticks(e);
    return timeout > idle ? timeout - idle : 0;
  }

 private:
  static Stamp& stamp(E& e) { return e.stamp; }
  static const Stamp& stamp(const E& e) { return e.stamp; }
  static Header& header(E& e) { return e.header; }
  static Hit<E> decode(void* d) {
    const uintptr_t v = uintptr_t(d);
    return {reinterpret_cast<E*>(v & ~uintptr_t(1)), unsigned(v & 1)};
  }
  // The entry holding a timer: the wheel hands back the timer alone.
  static E& entry_of(timer::Timer& t) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"  // the timer makes E non-standard-layout; GCC lays it out plainly
    return *reinterpret_cast<E*>(reinterpret_cast<char*>(&t) - offsetof(E, header) - offsetof(Header, timer));
#pragma GCC diagnostic pop
  }

  static void on_idle(timer::Timer& t, void* ctx) {
    SessionTable& self = *static_cast<SessionTable*>(ctx);
    E& e = entry_of(t);
    const uint64_t now = self.wheel_.now();
    const uint64_t idle = self.idle_ticks(e, now), timeout = self.owner_.timeout_ticks(e);
    if (idle < timeout) {  // used since it was armed: put back for the time it has left
      self.wheel_.schedule(t, now + (timeout - idle));
      return;
    }
    self.expiring_.push_back(&e);
    if (self.expiring_.size() >= kExpiryBatch) self.release_expired();
    else if (!self.flush_timer_.pending()) self.wheel_.schedule(self.flush_timer_, now + 1);
  }
  static void on_flush_timer(timer::Timer&, void* ctx) { static_cast<SessionTable*>(ctx)->release_expired(); }

  // Ends the sessions whose timers fired, after one bulk lookup of every key about to be
  // deleted: rte_hash's bulk lookup overlaps the bucket and key-store misses that the
  // deletions would take one by one, so they find the lines in cache.
  void release_expired() {
    if (expiring_.empty()) return;
    if (flush_timer_.pending()) wheel_.cancel(flush_timer_);
    const uint64_t now = wheel_.now();
    FiveTuple keys[kBulkMax];
    void* data[kBulkMax];
    for (E* e : expiring_) rte_prefetch0(&header(*e).key[0]);
    uint32_t n = 0;
    for (E* e : expiring_) {
      for (const FiveTuple& k : header(*e).key) {
        keys[n++] = k;
        if (n == kBulkMax) {
          keys_->find_bulk(keys, n, data);
          n = 0;
        }
      }
    }
    if (n) keys_->find_bulk(keys, n, data);
    owner_.before_release(std::span<E* const>(expiring_));
    uint64_t ended = 0;
    for (E* e : expiring_) {
      // Used since its timer fired (the batch waited a tick): put back for the time it has left.
      const uint64_t idle = idle_ticks(*e, now), timeout = owner_.timeout_ticks(*e);
      if (idle < timeout) {
        wheel_.schedule(header(*e).timer, now + (timeout - idle));
        continue;
      }
      release(*e);
      ++ended;
    }
    expiring_.clear();
    counters_.add(ids_.expired, ended);
  }

  timer::Wheel& wheel_;
  net::CounterSet& counters_;
  Owner& owner_;
  Counters ids_;
  uint32_t capacity_;
  std::unique_ptr<pipeline::FlowTable> keys_;
  E* pool_ = nullptr;
  std::vector<uint32_t> free_;  // a stack: the entry freed last is made next, its lines warm
  std::atomic<uint32_t> in_use_{0};
  uint64_t memory_bytes_ = 0;
  bool made_since_bulk_ = false;
  std::vector<E*> expiring_;  // sessions whose timers fired, ended together
  timer::Timer flush_timer_;  // ends a batch that did not fill within a tick
};

// New sessions of one burst, made together at its end. An Item is what the feature needs to
// make one; it has the initiator's `key` and the `answer` tuple.
template <class Item, size_t kMax>
class DeferredSessions {
 public:
  bool full() const { return n_ == kMax; }
  uint32_t size() const { return n_; }
  const Item& operator[](uint32_t i) const { return items_[i]; }
  void push(const Item& item) { items_[n_++] = item; }
  void clear() { n_ = 0; }

  // Warms every answer's buckets with one bulk lookup, then, in order, calls
  // make(item, taken) -> E* for an item whose key is the first of its kind in the batch
  // (`taken`: its answer tuple already belongs to a session), and again(item, made) for a later
  // packet of a flow made (or refused, null) earlier in the batch. The items stay readable until
  // clear().
  template <class Table, class Make, class Again>
  void make_all(Table& table, Make&& make, Again&& again) {
    static_assert(kMax <= 64, "one bulk lookup, one mask");
    FiveTuple answers[kMax];
    for (uint32_t i = 0; i < n_; ++i) answers[i] = items_[i].answer;
    const uint64_t taken = table.taken(answers, n_);
    decltype(make(items_[0], false)) made[kMax];
    for (uint32_t i = 0; i < n_; ++i) {
      uint32_t first = i;
      for (uint32_t j = 0; j < i && first == i; ++j)
        if (items_[j].key == items_[i].key) first = j;
      if (first != i) {
        made[i] = made[first];
        again(items_[i], made[i]);
      } else {
        made[i] = make(items_[i], bool(taken >> i & 1));
      }
    }
  }

 private:
  std::array<Item, kMax> items_;
  uint32_t n_ = 0;
};

}  // namespace redline::session
