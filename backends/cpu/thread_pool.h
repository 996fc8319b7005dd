// A persistent pool of worker threads for the CPU kernels.
//
// Decoding one token dispatches a few hundred small jobs (tens of microseconds each), so
// the design keeps a job cheap to start and, above all, never makes the caller wait for a
// thread that is not running:
// - tasks are claimed one at a time from a shared counter, and a job is over when its
//   tasks are done, not when every helper has checked in; a helper the OS has descheduled
//   simply claims nothing and the caller runs its share (no collapse when the machine is
//   oversubscribed);
// - idle workers spin for a short time budget (the gap between two jobs of one token is a
//   few microseconds), then sleep on a futex: an idle pool uses no CPU, and a job wakes
//   sleepers with one syscall only when some are asleep.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tern::cpu {

class ThreadPool {
 public:
  ThreadPool() = default;
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// The process-wide pool every CPU backend shares (it grows to the largest request).
  static ThreadPool& shared();

  /// Calls fn(task) for every task in [0, n_tasks) on up to n_threads threads, the caller
  /// included; tasks are claimed one at a time, so a slow thread takes fewer. Returns when
  /// all are done and rethrows the first exception a task threw (the tasks not yet started
  /// are skipped). Calls from inside a task, or while another thread's job runs, are served
  /// in turn (the inner ones inline).
  void run(int64_t n_tasks, int n_threads, const std::function<void(int64_t)>& fn);

 private:
  void worker(int index);
  // Claims and runs tasks of job `generation` until it has none left.
  void work(uint32_t generation);
  // Waits until the job generation differs from `seen` (or the pool stops); returns it.
  uint32_t wait_for_job(uint32_t seen);
  void wait_for_tasks(uint32_t n_tasks);
  void grow(int n_workers);

  std::mutex dispatch_;  // one job at a time
  std::vector<std::thread> workers_;
  // generation << 32 | next unclaimed task. Claiming is a compare-exchange of the whole
  // word, so a late worker can never take a task of a job whose description it did not read.
  alignas(64) std::atomic<uint64_t> claim_{0};
  alignas(64) std::atomic<uint32_t> done_{0};  // tasks finished in the current job
  std::atomic<bool> caller_sleeps_{false};     // the caller waits on done_'s futex
  alignas(64) std::atomic<uint32_t> wake_{0};  // futex word idle workers sleep on
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  // The current job, written before its generation is published.
  alignas(64) std::atomic<uint32_t> n_tasks_{0};
  std::atomic<int> helpers_{0};  // workers [0, helpers_) take part
  const std::function<void(int64_t)>* fn_ = nullptr;
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace tern::cpu
