// Work the control thread hands a worker, run on the worker's own core between two bursts.
//
// Problem: a worker's tables (NAT sessions, TCP connections, the session engine's to come) have
// one writer, the worker. Listing them from the control thread reads entries the worker is
// rewriting; deleting from there would need locks on the fast path. Choice: the control thread
// posts a job to the worker's mailbox and waits for it, bounded; the worker looks at the mailbox
// once per loop iteration (one relaxed load and a predictable branch when it is empty) and runs
// what it finds. A job does a bounded slice of work (a listing of a million sessions is many
// jobs, each a few thousand entries), so forwarding stalls for microseconds, not for the listing.
//
// A job the caller gave up on (timeout: the worker is stuck or stopped) may still run later, so
// a job owns everything it touches besides the worker's own state: it is shared by the caller
// and the mailbox, and its result lives in it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace redline::pipeline {

class WorkerMailbox {
 public:
  struct Job {
    std::function<void()> run;  // runs on the worker
    std::atomic<bool> done{false};
  };

  // Control side (any thread): queues `job` for the worker.
  void post(std::shared_ptr<Job> job) {
    const std::lock_guard<std::mutex> lock(m_);
    queued_.push_back(std::move(job));
    waiting_.store(true, std::memory_order_release);
  }

  // Worker side, once per loop iteration.
  void serve() {
    if (waiting_.load(std::memory_order_relaxed)) [[unlikely]]
      serve_queued();
  }

  // Control side: runs `fn` on the worker (posts it and waits up to `timeout`). The result, or
  // nothing if the worker did not run it in time. `fn` must capture by value (see above).
  template <class F>
  auto call(F fn, std::chrono::milliseconds timeout) -> std::optional<decltype(fn())> {
    using R = decltype(fn());
    struct Result {
      std::optional<R> value;
    };
    auto result = std::make_shared<Result>();
    auto job = std::make_shared<Job>();
    job->run = [result, fn = std::move(fn)]() mutable { result->value.emplace(fn()); };
    post(job);
    if (!wait(*job, timeout)) return std::nullopt;
    return std::move(result->value);
  }

  // Control side: waits until `job` has run (acquire: what it wrote is visible), up to `timeout`.
  static bool wait(const Job& job, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!job.done.load(std::memory_order_acquire)) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
  }

 private:
  [[gnu::cold]] void serve_queued() {
    std::vector<std::shared_ptr<Job>> jobs;
    {
      // try_lock: the worker never waits on the control thread; the jobs are taken next time.
      std::unique_lock<std::mutex> lock(m_, std::try_to_lock);
      if (!lock.owns_lock()) return;
      jobs.swap(queued_);
      waiting_.store(false, std::memory_order_relaxed);
    }
    for (const std::shared_ptr<Job>& j : jobs) {
      j->run();
      j->done.store(true, std::memory_order_release);
    }
  }

  std::mutex m_;
  std::vector<std::shared_ptr<Job>> queued_;
  std::atomic<bool> waiting_{false};
};

}  // namespace redline::pipeline
