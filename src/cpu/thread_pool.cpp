#include "cpu/thread_pool.h"

#include <immintrin.h>

#include <algorithm>

namespace tern::cpu {

namespace {

// ~100 us of polling on current x86 cores before sleeping.
constexpr int kSpinIterations = 4096;

constexpr int kGenerationShift = 16;
constexpr uint64_t kHelperMask = (uint64_t{1} << kGenerationShift) - 1;
constexpr int64_t kMaxThreads = kHelperMask;

thread_local bool t_in_task = false;

// Waits until `value` differs from `old`: spins, then sleeps in the kernel.
template <typename T>
T wait_change(const std::atomic<T>& value, T old) {
  for (int i = 0; i < kSpinIterations; ++i) {
    T now = value.load(std::memory_order_acquire);
    if (now != old) return now;
    _mm_pause();
  }
  value.wait(old, std::memory_order_acquire);
  return value.load(std::memory_order_acquire);
}

}  // namespace

ThreadPool& ThreadPool::shared() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  job_.fetch_add(uint64_t{1} << kGenerationShift, std::memory_order_acq_rel);
  job_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::grow(int n_workers) {
  while (static_cast<int>(workers_.size()) < n_workers) {
    // The worker starts from the current job word: a job posted before it first runs
    // still counts as new to it.
    int index = static_cast<int>(workers_.size());
    uint64_t seen = job_.load(std::memory_order_acquire);
    workers_.emplace_back([this, index, seen] { worker(index, seen); });
  }
}

void ThreadPool::work() {
  t_in_task = true;
  for (;;) {
    int64_t task = next_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) break;
    try {
      (*fn_)(task);
    } catch (...) {
      std::lock_guard lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      next_.store(n_tasks_, std::memory_order_relaxed);  // abandon the rest
    }
  }
  t_in_task = false;
}

void ThreadPool::worker(int index, uint64_t seen) {
  for (;;) {
    seen = wait_change(job_, seen);
    if (stop_.load(std::memory_order_acquire)) return;
    if (index >= static_cast<int>(seen & kHelperMask)) continue;
    work();
    if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) active_.notify_one();
  }
}

void ThreadPool::run(int64_t n_tasks, int n_threads, const std::function<void(int64_t)>& fn) {
  int n = static_cast<int>(std::clamp<int64_t>(
      n_threads, 1, std::min<int64_t>(std::max<int64_t>(n_tasks, 1), kMaxThreads)));
  if (n == 1 || t_in_task) {
    for (int64_t task = 0; task < n_tasks; ++task) fn(task);
    return;
  }
  std::lock_guard lock(dispatch_);
  grow(n - 1);
  fn_ = &fn;
  n_tasks_ = n_tasks;
  error_ = nullptr;
  next_.store(0, std::memory_order_relaxed);
  active_.store(n - 1, std::memory_order_relaxed);
  uint64_t generation = (job_.load(std::memory_order_relaxed) >> kGenerationShift) + 1;
  job_.store(generation << kGenerationShift | static_cast<uint64_t>(n - 1),
             std::memory_order_release);
  job_.notify_all();
  work();
  for (int left = active_.load(std::memory_order_acquire); left != 0;
       left = active_.load(std::memory_order_acquire)) {
    wait_change(active_, left);
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace tern::cpu
