#include "backends/cpu/thread_pool.h"

#include <fmt/format.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "tern/error.h"

namespace tern::cpu {

namespace {

// How long an idle thread polls before sleeping. Longer than the gaps inside one decoded
// token (a few microseconds of norms and ropes between matrix products), shorter than a
// scheduler time slice, so an oversubscribed machine loses little to polling.
constexpr auto kSpinBudget = std::chrono::microseconds(200);
// Pauses between clock reads while polling (~2 us on current x86 cores).
constexpr int kPausesPerCheck = 64;

constexpr int kGenerationShift = 32;
// A task number no job has: the claim word's value between two jobs.
constexpr uint32_t kClosed = std::numeric_limits<uint32_t>::max();

thread_local bool t_in_task = false;

uint32_t generation_of(uint64_t claim) { return static_cast<uint32_t>(claim >> kGenerationShift); }

// Polls `done()` for kSpinBudget; true once it holds.
template <typename Done>
bool spin_until(Done done) {
  auto deadline = std::chrono::steady_clock::now() + kSpinBudget;
  for (;;) {
    for (int i = 0; i < kPausesPerCheck; ++i) {
      if (done()) return true;
      _mm_pause();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

}  // namespace

ThreadPool& ThreadPool::shared() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_seq_cst);
  wake_.fetch_add(1, std::memory_order_seq_cst);
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::grow(int n_workers) {
  while (static_cast<int>(workers_.size()) < n_workers) {
    int index = static_cast<int>(workers_.size());
    workers_.emplace_back([this, index] { worker(index); });
  }
}

uint32_t ThreadPool::wait_for_job(uint32_t seen) {
  auto current = [&] { return generation_of(claim_.load(std::memory_order_acquire)); };
  auto changed = [&] { return current() != seen || stop_.load(std::memory_order_relaxed); };
  while (!spin_until(changed)) {
    // Announce the sleep, then re-check: run() publishes the job before it looks at
    // sleepers_, so one of the two sees the other (all seq_cst).
    uint32_t ticket = wake_.load(std::memory_order_seq_cst);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (generation_of(claim_.load(std::memory_order_seq_cst)) == seen &&
        !stop_.load(std::memory_order_seq_cst)) {
      wake_.wait(ticket, std::memory_order_seq_cst);
    }
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  }
  return current();
}

void ThreadPool::work(uint32_t generation) {
  t_in_task = true;
  for (;;) {
    uint64_t claim = claim_.load(std::memory_order_acquire);
    if (generation_of(claim) != generation) break;
    auto task = static_cast<uint32_t>(claim);
    // n_tasks_ may already belong to a later job; then the exchange below fails.
    if (task >= n_tasks_.load(std::memory_order_relaxed)) break;
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
      continue;
    }
    // The job cannot end before this task is counted, so fn_ and n_tasks_ are this job's.
    if (!failed_.load(std::memory_order_relaxed)) {
      try {
        (*fn_)(task);
      } catch (...) {
        std::lock_guard lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
    }
    uint32_t n_tasks = n_tasks_.load(std::memory_order_relaxed);
    if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == n_tasks &&
        caller_sleeps_.load(std::memory_order_seq_cst)) {
      done_.notify_one();
    }
  }
  t_in_task = false;
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;  // generation 0 is never a job: run() starts at 1
  for (;;) {
    seen = wait_for_job(seen);
    if (stop_.load(std::memory_order_acquire)) return;
    if (index < helpers_.load(std::memory_order_relaxed)) work(seen);
  }
}

void ThreadPool::wait_for_tasks(uint32_t n_tasks) {
  auto finished = [&] { return done_.load(std::memory_order_acquire) == n_tasks; };
  if (spin_until(finished)) return;
  // A helper is still in a task (perhaps descheduled): sleep until the last one ends it.
  caller_sleeps_.store(true, std::memory_order_seq_cst);
  for (uint32_t d = done_.load(std::memory_order_seq_cst); d != n_tasks;
       d = done_.load(std::memory_order_seq_cst)) {
    done_.wait(d, std::memory_order_seq_cst);
  }
  caller_sleeps_.store(false, std::memory_order_relaxed);
}

void ThreadPool::run(int64_t n_tasks, int n_threads, const std::function<void(int64_t)>& fn) {
  if (n_tasks >= kClosed) {
    throw Error(fmt::format("thread pool: {} tasks in one job is too many", n_tasks));
  }
  int n = static_cast<int>(std::clamp<int64_t>(n_threads, 1, std::max<int64_t>(n_tasks, 1)));
  if (n == 1 || t_in_task) {
    for (int64_t task = 0; task < n_tasks; ++task) fn(task);
    return;
  }
  std::lock_guard lock(dispatch_);
  grow(n - 1);
  // Close the previous job's counter first: a late worker that read it before this job's
  // n_tasks_ is written could otherwise claim one of its (finished) task numbers.
  uint32_t generation = generation_of(claim_.load(std::memory_order_relaxed));
  claim_.store(uint64_t{generation} << kGenerationShift | kClosed, std::memory_order_seq_cst);
  fn_ = &fn;
  n_tasks_.store(static_cast<uint32_t>(n_tasks), std::memory_order_relaxed);
  helpers_.store(n - 1, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  failed_.store(false, std::memory_order_relaxed);
  error_ = nullptr;
  if (++generation == 0) generation = 1;  // 0 is the workers' "nothing seen yet"
  claim_.store(uint64_t{generation} << kGenerationShift, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    wake_.fetch_add(1, std::memory_order_seq_cst);
    wake_.notify_all();
  }
  work(generation);
  wait_for_tasks(static_cast<uint32_t>(n_tasks));
  if (error_) std::rethrow_exception(error_);
}

}  // namespace tern::cpu
