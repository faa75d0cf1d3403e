// The session engine alone (stack/session/session_table.hpp), with a toy feature: its entries,
// its timeouts, what it undoes when a session ends. Real rte_hash and rte_malloc under EAL, a real
// timer wheel driven tick by tick.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "stack/pipeline/worker_mailbox.hpp"
#include "stack/session/session_table.hpp"

using namespace redline;
using net::Counter;
using net::FiveTuple;

namespace {

struct ToyEntry {
  uint32_t payload = 0;  // the feature's data
  session::Stamp stamp;
  session::Header header;
};

class ToyOwner;
using ToyTable = session::SessionTable<ToyEntry, ToyOwner>;

class ToyOwner {
 public:
  uint64_t timeout_ticks(const ToyEntry& e) const { return e.stamp.protocol == 6 ? tcp_ticks : udp_ticks; }
  void on_release(ToyEntry& e) { released.push_back(e.payload); }
  void before_release(std::span<ToyEntry* const> batch) { batches.push_back(batch.size()); }

  uint64_t tcp_ticks = 100, udp_ticks = 10;
  std::vector<uint32_t> released;
  std::vector<size_t> batches;
};

static_assert(session::SessionOwner<ToyOwner, ToyEntry>);

FiveTuple tuple(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto = 17) {
  return {src, dst, sport, dport, proto, {0, 0, 0}};
}

struct Engine {
  timer::Wheel wheel{0};
  net::CounterSet counters;
  ToyOwner owner;
  ToyTable table;
  explicit Engine(uint32_t capacity, const char* name)
      : table(name, capacity, 0, wheel, counters, owner,
              {Counter::nat_sessions_created, Counter::nat_sessions_expired, Counter::nat_sessions_flushed}) {}

  ToyEntry* add(uint32_t n, uint8_t proto = 17, uint64_t now = 0) {
    return table.insert(tuple(n, 2, 1000, 80, proto), tuple(2, 3, 80, uint16_t(n), proto), now,
                        [n](ToyEntry& e) { e.payload = n; });
  }
  void run_to(uint64_t tick) {
    for (uint64_t t = wheel.now() + 1; t <= tick; ++t) wheel.advance(t, timer::Wheel::kUnlimited);
  }
};

TEST(SessionTable, BothKeysFindOneSessionAndSayWhichMatched) {
  Engine e(16, "st_keys");
  ToyEntry* s = e.add(7);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->payload, 7u);
  EXPECT_EQ(s->stamp.protocol, 17);
  EXPECT_EQ(e.table.in_use(), 1u);
  EXPECT_EQ(e.counters.get(Counter::nat_sessions_created), 1u);

  const auto fwd = e.table.find(tuple(7, 2, 1000, 80));
  const auto back = e.table.find(tuple(2, 3, 80, 7));
  ASSERT_TRUE(fwd && back);
  EXPECT_EQ(fwd.entry, s);
  EXPECT_EQ(fwd.dir, 0u);
  EXPECT_EQ(back.entry, s);
  EXPECT_EQ(back.dir, 1u);
  EXPECT_FALSE(e.table.find(tuple(7, 2, 1000, 81)));

  // In bulk: hits and misses in one call, the mask and each hit's direction.
  e.add(8);
  const FiveTuple keys[4] = {tuple(2, 3, 80, 8), tuple(9, 9, 9, 9), tuple(7, 2, 1000, 80), tuple(8, 2, 1000, 80)};
  session::Hit<ToyEntry> hits[4];
  EXPECT_EQ(e.table.find_bulk(keys, 4, hits), 0b1101u);
  EXPECT_EQ(hits[0].entry->payload, 8u);
  EXPECT_EQ(hits[0].dir, 1u);
  EXPECT_EQ(hits[2].entry, s);
  EXPECT_EQ(hits[2].dir, 0u);
  EXPECT_EQ(hits[3].dir, 0u);
}

TEST(SessionTable, FullTableRefusesAndAnEndedSessionFreesItsKeys) {
  Engine e(4, "st_full");
  for (uint32_t n = 1; n <= 4; ++n) ASSERT_NE(e.add(n), nullptr);
  EXPECT_TRUE(e.table.full());
  EXPECT_EQ(e.add(5), nullptr) << "a fifth session in a table of four";
  ToyEntry* two = e.table.find(tuple(2, 2, 1000, 80)).entry;
  ASSERT_NE(two, nullptr);
  e.table.end(*two);
  EXPECT_EQ(e.owner.released, std::vector<uint32_t>{2});
  EXPECT_EQ(e.counters.get(Counter::nat_sessions_flushed), 1u);
  EXPECT_FALSE(e.table.find(tuple(2, 2, 1000, 80)));
  EXPECT_FALSE(e.table.find(tuple(2, 3, 80, 2)));
  EXPECT_NE(e.add(5), nullptr) << "its entry is made again";
  EXPECT_EQ(e.table.in_use(), 4u);
}

TEST(SessionTable, IdleSessionsEndInBatchesByTheFeaturesTimeouts) {
  Engine e(64, "st_expiry");
  for (uint32_t n = 0; n < 40; ++n) e.add(n);        // UDP: 10 ticks
  ToyEntry* tcp = e.add(100, 6);                     // TCP: 100 ticks
  ToyEntry* kept = e.table.find(tuple(5, 2, 1000, 80)).entry;
  e.run_to(5);
  kept->stamp.last_used = 5;  // a packet at tick 5: the fast path only stores the time
  e.run_to(10);
  // 39 timers fired at tick 10: one full batch of 32 ended at once, the rest a tick later.
  EXPECT_EQ(e.owner.batches, std::vector<size_t>{32});
  EXPECT_EQ(e.owner.released.size(), 32u);
  e.run_to(11);
  EXPECT_EQ(e.owner.batches, (std::vector<size_t>{32, 7}));
  EXPECT_EQ(e.owner.released.size(), 39u);
  EXPECT_EQ(e.counters.get(Counter::nat_sessions_expired), 39u);
  EXPECT_TRUE(e.table.find(tuple(5, 2, 1000, 80))) << "used at tick 5: re-armed for tick 15";
  EXPECT_TRUE(e.table.find(tuple(100, 2, 1000, 80, 6)));
  e.run_to(16);
  EXPECT_FALSE(e.table.find(tuple(5, 2, 1000, 80)));
  EXPECT_EQ(e.table.in_use(), 1u);
  // A shorter timeout applies from now, not from the old expiry.
  e.owner.tcp_ticks = 3;
  e.table.rearm(*tcp, e.wheel.now());
  e.run_to(e.wheel.now() + 4);
  EXPECT_EQ(e.table.in_use(), 0u);
  EXPECT_EQ(e.owner.released.back(), 100u);
}

// A new flow's later packets in the same burst find the session its first packet made; an
// answer tuple already taken is reported, so the feature refuses instead of overwriting.
TEST(SessionTable, DeferredCreationMakesEachFlowOnce) {
  Engine e(16, "st_deferred");
  e.add(1);  // its answer: 2 -> 3, 80 -> 1
  struct Item {
    FiveTuple key, answer;
    uint32_t n;
  };
  session::DeferredSessions<Item, 64> pending;
  pending.push({tuple(10, 2, 1000, 80), tuple(2, 3, 80, 10), 10});
  pending.push({tuple(11, 2, 1000, 80), tuple(2, 3, 80, 1), 11});  // the answer of session 1
  pending.push({tuple(10, 2, 1000, 80), tuple(2, 3, 80, 10), 12});  // flow 10 again
  std::vector<std::string> calls;
  pending.make_all(
      e.table,
      [&](const Item& it, bool taken) -> ToyEntry* {
        calls.push_back("make " + std::to_string(it.n) + (taken ? " taken" : ""));
        if (taken) return nullptr;
        return e.table.insert(it.key, it.answer, 0, [&](ToyEntry& s) { s.payload = it.n; });
      },
      [&](const Item& it, ToyEntry* made) {
        calls.push_back("again " + std::to_string(it.n) + " -> " + (made ? std::to_string(made->payload) : "none"));
      });
  EXPECT_EQ(calls, (std::vector<std::string>{"make 10", "make 11 taken", "again 12 -> 10"}));
  EXPECT_EQ(pending.size(), 3u) << "readable until cleared";
  pending.clear();
  EXPECT_EQ(e.table.in_use(), 2u);
}

TEST(SessionTable, ScanListsLiveSessionsInSlicesAndEndsWhatItIsAsked) {
  Engine e(100, "st_scan");
  for (uint32_t n = 0; n < 50; ++n) e.add(n, n % 2 ? 6 : 17);
  std::vector<uint32_t> seen;
  uint32_t at = 0;
  while (at < e.table.capacity()) at = e.table.scan(at, 16, [&](ToyEntry& s) {
    seen.push_back(s.payload);
    return true;
  });
  EXPECT_EQ(seen.size(), 50u);
  // Stops where the visitor says, and goes on from there.
  uint32_t visited = 0;
  const uint32_t next = e.table.scan(0, 100, [&](ToyEntry&) { return ++visited < 5; });
  EXPECT_EQ(visited, 5u);
  EXPECT_EQ(next, 5u);
  // Ends the TCP ones.
  at = 0;
  while (at < e.table.capacity()) at = e.table.scan(at, 16, [&](ToyEntry& s) {
    if (s.stamp.protocol == 6) e.table.end(s);
    return true;
  });
  EXPECT_EQ(e.table.in_use(), 25u);
  EXPECT_EQ(e.counters.get(Counter::nat_sessions_flushed), 25u);
}

// The control plane lists a worker's sessions while that worker makes and ends them: the scan
// runs on the worker's thread between its bursts (the mailbox), never beside its writes.
TEST(SessionTable, ListingWhileTheWorkerRuns) {
  Engine e(4096, "st_running");
  pipeline::WorkerMailbox mailbox;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> made{0};
  std::thread worker([&] {
    uint32_t n = 0;
    uint64_t tick = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      // A "burst": a few new sessions, a tick of expiry (UDP idles out after 10 ticks).
      for (int k = 0; k < 8; ++k)
        if (e.add(n++ % 100000, 17, tick)) made.fetch_add(1, std::memory_order_relaxed);
      e.wheel.advance(++tick, timer::Wheel::kUnlimited);
      mailbox.serve();
    }
  });
  for (int round = 0; round < 20; ++round) {
    uint32_t at = 0, live = 0, found = 0;
    while (at < e.table.capacity()) {
      auto slice = mailbox.call(
          [&e, at] {
            // Every live session listed is whole: its answer key finds it.
            std::array<uint32_t, 3> next_live_found{0, 0, 0};
            next_live_found[0] = e.table.scan(at, 512, [&](ToyEntry& s) {
              ++next_live_found[1];
              next_live_found[2] += e.table.find(s.header.key[1]).entry == &s;
              return true;
            });
            return next_live_found;
          },
          std::chrono::milliseconds(5000));
      ASSERT_TRUE(slice) << "the worker answers";
      at = (*slice)[0];
      live += (*slice)[1];
      found += (*slice)[2];
    }
    EXPECT_EQ(found, live) << "a listed session its answer key does not find";
    EXPECT_GT(live, 0u);
    EXPECT_LE(live, 8u * 13u) << "at most 10 ticks of sessions (and a batch waiting a tick) live at a time";
  }
  stop = true;
  worker.join();
  EXPECT_GT(made.load(), 8u * 13u);
}

}  // namespace
