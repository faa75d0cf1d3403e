// Per-core timer wheel for ARP now, and TCP (retransmit, delayed ACK, keepalive, TIME-WAIT), NAT
// (session expiry, up to 1 M sessions) and LB later: timers armed, re-armed and cancelled far more
// often than they fire, on a core whose packet loop must never stall.
//
// Problem: insert, cancel and re-arm must be O(1) with no allocation; expiry must be exact to the
// tick (TCP timing and deterministic tests with a fake clock depend on it); and one call from the
// loop must do bounded work, however many timers are due or however long the core was stalled.
//
// Alternatives:
//  - rte_timer: a skiplist per lcore (O(log n) insert), an atomic state word per timer so other
//    lcores may arm it, and rte_timer_manage() reads the TSC itself, so tests cannot drive time.
//    Measured with 1 M pending: schedule+cancel ~20x and re-arming a random timer ~170x dearer
//    than this wheel; expiry on par (both pay a cache miss per timer).
//  - A binary heap: O(log n) insert, cancel needs a back-index, a cache miss per level at 1 M.
//  - One hashed wheel (Varghese & Lauck scheme 6): O(1), but a 5-minute NAT timeout at 1 ms
//    ticks is walked past on every turn, unless the wheel has 300 000 slots.
//  - Hierarchical without cascading (Linux since 4.8): timers in outer levels are never re-filed
//    but fire late by up to their slot's width: fine for timeouts, wrong for exact RTO timing.
// Choice: hierarchical with cascading (Varghese & Lauck scheme 7; Linux before 4.8). 4 levels of
// 256 slots; a level-L slot spans 256^L ticks, so the wheel covers 2^32 ticks. A timer further
// out is filed in the farthest slot and re-filed when that slot's turn comes: never lost, never
// early. A timer is re-filed at most 3 times on its way in (plus once per 2^24 ticks beyond the
// range). A 256-bit occupancy bitmap per level lets advance() jump over idle time with count-
// trailing-zeros: O(levels) per event, not O(ticks). Firing and re-filing each have a budget per
// call; what a budget leaves stays where it is and is picked up by the next call.
//
// Time is an abstract tick (the owner picks e.g. 1 ms or 100 µs and converts its loop's TSC
// reading); the wheel never reads a clock. Ticks must stay below 2^63.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace redline::timer {

class Wheel;

namespace detail {
// Node of a circular doubly linked list whose head points at itself when empty: unlinking needs
// neither the list nor a search, which is what makes cancel and re-arm O(1).
struct Link {
  Link* next = nullptr;
  Link* prev = nullptr;
};
}  // namespace detail

// Embedded in the object it times (a session, a connection), so arming never allocates. The wheel
// holds its address while pending, hence no copies; destroying a pending timer is a bug.
class Timer : private detail::Link {
 public:
  // A plain function pointer and a context rather than std::function or a virtual: no allocation,
  // no indirection beyond the one call, and one per-core wheel can serve ARP, NAT and TCP alike.
  using Callback = void (*)(Timer& timer, void* ctx);

  Timer() = default;
  Timer(Callback fn, void* ctx) : fn_(fn), ctx_(ctx) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() { assert(!pending() && "destroying a pending timer: cancel it first"); }

  void set_callback(Callback fn, void* ctx) {
    fn_ = fn;
    ctx_ = ctx;
  }
  bool pending() const { return next != nullptr; }
  uint64_t expires() const { return expires_; }  // the tick it was last scheduled for
  void* context() const { return ctx_; }

 private:
  friend class Wheel;
  uint64_t expires_ = 0;
  Callback fn_ = nullptr;
  void* ctx_ = nullptr;
};

class Wheel {
 public:
  static constexpr unsigned kLevels = 4;
  static constexpr unsigned kSlotBits = 8;
  static constexpr unsigned kSlots = 1u << kSlotBits;
  static constexpr uint64_t kRange = uint64_t{1} << (kLevels * kSlotBits);  // ticks covered
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
  static constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();

  // The wheel starts at tick `now`: that tick counts as already processed.
  explicit Wheel(uint64_t now = 0) : next_(now + 1) {
    for (detail::Link& h : heads_) h.next = h.prev = &h;
    due_.next = due_.prev = &due_;
  }
  ~Wheel() { clear(); }  // leaves the timers unlinked, so their destructors may run after ours
  Wheel(const Wheel&) = delete;  // list heads point at themselves
  Wheel& operator=(const Wheel&) = delete;

  uint64_t now() const { return next_ - 1; }  // the last tick processed
  size_t size() const { return size_; }       // pending timers, due-but-unfired included
  bool pending(const Timer& t) const { return t.pending(); }

  // Arms `t` for tick `expires`, moving it if already pending. A tick at or before now() counts as
  // due now: it fires on the next advance(), after the timers that were already due.
  void schedule(Timer& t, uint64_t expires) {
    assert(t.fn_ != nullptr);
    if (t.pending()) unlink(t); else ++size_;
    t.expires_ = expires;
    file(t);
  }

  // Returns whether `t` was pending (false once it has fired or been cancelled).
  bool cancel(Timer& t) {
    if (!t.pending()) return false;
    unlink(t);
    --size_;
    return true;
  }

  // Fires, in non-decreasing expiry order, the timers due by `now_tick`, at most `max_expiries` of
  // them, re-filing at most `max_moves` timers from outer levels on the way; returns the number
  // fired. A budget that runs out leaves the rest due (or unfiled) for the next call: nothing is
  // lost or fired twice, only late. During a callback now() is the tick being fired. Callbacks may
  // schedule and cancel any timer, themselves included, and free their owner; a timer scheduled
  // at or before now() fires in this same call, budget permitting. Not reentrant.
  size_t advance(uint64_t now_tick, size_t max_expiries, size_t max_moves = kUnlimited) {
    assert(now_tick < kNever / 2);
    size_t fired = 0;
    for (;;) {
      while (fired < max_expiries && due_.next != &due_) {
        Timer& t = static_cast<Timer&>(*due_.next);
        unlink(t);
        --size_;
        ++fired;
        t.fn_(t, t.ctx_);  // nothing of `t` is touched after: the callback may re-arm or free it
      }
      if (fired == max_expiries || next_ > now_tick) return fired;
      uint64_t at = next_event();  // the ticks before it have nothing to do: skip them
      if (at > now_tick) {
        next_ = now_tick + 1;
        return fired;
      }
      next_ = at;
      if (!run_tick(max_moves)) return fired;
    }
  }

  // When the loop next needs to call advance(): a lower bound on the earliest expiry, exact when
  // that is within 256 ticks (else the tick its outer slot is re-filed). now() if timers are due.
  uint64_t next_expiry() const { return due_.next != &due_ ? now() : next_event(); }

  // Forgets every pending timer without firing it (worker teardown).
  void clear() {
    for (detail::Link& h : heads_) drain(h);
    drain(due_);
    size_ = 0;
  }

 private:
  // Files `t` by how far off it is: level L holds timers 256^L to 256^(L+1) - 1 ticks after next_,
  // in the slot of the 256^L-tick span containing its expiry. A level-L slot's turn comes when
  // next_ reaches the start of that span; its timers are then at most 256^L - 1 ticks away and
  // move to inner levels. So a level-0 slot holds exactly one tick's timers, and the first turn of
  // a slot at or after next_ is always the right one (a span 256^(L+1) ticks later has the same
  // slot, but nothing that far is filed at level L).
  void file(Timer& t) {
    detail::Link* head = &due_;
    if (t.expires_ >= next_) {
      uint64_t delta = std::min(t.expires_ - next_, kRange - 1);  // beyond range: farthest slot
      auto level = static_cast<unsigned>(std::bit_width(delta | 1) - 1) / kSlotBits;
      auto slot = static_cast<unsigned>((next_ + delta) >> (level * kSlotBits)) & (kSlots - 1);
      head = &heads_[level * kSlots + slot];
      mark(level * kSlots + slot);
    }
    t.prev = head->prev;  // at the tail: a tick's timers fire in the order they were filed
    t.next = head;
    head->prev->next = &t;
    head->prev = &t;
  }

  void unlink(Timer& t) {
    detail::Link* p = t.prev;
    detail::Link* n = t.next;
    p->next = n;
    n->prev = p;
    t.next = t.prev = nullptr;
    if (p == n && p != &due_) unmark(static_cast<size_t>(p - heads_));  // p == n: list now empty
  }

  void mark(size_t i) { bits_[i / 64] |= uint64_t{1} << (i % 64); }
  void unmark(size_t i) { bits_[i / 64] &= ~(uint64_t{1} << (i % 64)); }

  // Processes tick next_: first the outer slots whose turn starts here (their timers go to inner
  // levels, never back to a slot being emptied: clamped ones go to the slot before it), then level
  // 0's slot becomes the due list, which advance() only lets us touch once it is empty. If the move
  // budget runs out, next_ stays and the next call finishes the slot: a slot at its turn receives
  // no new timers, so "not empty" is all the state a half-done tick needs.
  bool run_tick(size_t& moves) {
    for (unsigned level = 1; level < kLevels; ++level) {
      unsigned shift = level * kSlotBits;
      if (next_ & ((uint64_t{1} << shift) - 1)) break;  // no turn here, nor for outer levels
      detail::Link& head = heads_[level * kSlots + ((next_ >> shift) & (kSlots - 1))];
      while (head.next != &head) {
        if (moves == 0) return false;
        --moves;
        Timer& t = static_cast<Timer&>(*head.next);
        unlink(t);
        file(t);
      }
    }
    assert(due_.next == &due_);
    size_t i = next_ & (kSlots - 1);
    detail::Link& head = heads_[i];
    if (head.next != &head) {  // splice the whole slot: O(1) however many timers it holds
      due_ = head;
      due_.next->prev = due_.prev->next = &due_;
      head.next = head.prev = &head;
      unmark(i);
    }
    ++next_;
    return true;
  }

  // The first tick >= next_ with work: a level-0 slot holding timers, or the turn of an occupied
  // outer slot. kNever if the wheel is empty.
  uint64_t next_event() const {
    uint64_t best = kNever;
    for (unsigned level = 0; level < kLevels; ++level) {
      unsigned shift = level * kSlotBits;
      uint64_t span = uint64_t{1} << shift;
      uint64_t turn = (next_ + span - 1) & ~(span - 1);  // the first slot turn at or after next_
      if (turn >= best) break;  // outer levels' turns come no earlier
      unsigned d = distance(level, static_cast<unsigned>(turn >> shift) & (kSlots - 1));
      if (d < kSlots) best = std::min(best, turn + (uint64_t{d} << shift));
    }
    return best;
  }

  // Slots from `from` round to the first occupied one of `level`; kSlots if none.
  unsigned distance(unsigned level, unsigned from) const {
    constexpr unsigned kWords = kSlots / 64;
    const uint64_t* words = &bits_[level * kWords];
    uint64_t bits = words[from / 64] & (~uint64_t{0} << (from % 64));
    for (unsigned k = 0; k <= kWords; ++k) {  // `from`'s word twice: its low bits come round last
      unsigned w = (from / 64 + k) % kWords;
      if (k > 0) bits = words[w];
      if (bits) return (w * 64 + unsigned(std::countr_zero(bits)) - from) % kSlots;
    }
    return kSlots;
  }

  void drain(detail::Link& head) {
    while (head.next != &head) unlink(static_cast<Timer&>(*head.next));
  }

  uint64_t next_;  // the next tick to process: every tick before it has been made due
  size_t size_ = 0;
  detail::Link due_;  // due, not yet fired, in expiry order (a budget ran out, or scheduled late)
  uint64_t bits_[kLevels * kSlots / 64] = {};  // bit i: heads_[i] is not empty
  detail::Link heads_[kLevels * kSlots];       // level * kSlots + slot
};

}  // namespace redline::timer
