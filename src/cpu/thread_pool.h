// A persistent pool of worker threads for the CPU kernels. Workers spin briefly after a
// job (decoding dispatches a few hundred small jobs per token, and waking a sleeping
// thread costs more than the job), then sleep on a futex: an idle pool uses no CPU.
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
  /// all are done and rethrows the first exception a task threw. Calls from inside a task,
  /// or while another thread's job runs, are served in turn (the inner ones inline).
  void run(int64_t n_tasks, int n_threads, const std::function<void(int64_t)>& fn);

 private:
  void worker(int index, uint64_t seen);
  void work();
  void grow(int n_workers);

  std::mutex dispatch_;  // one job at a time
  std::vector<std::thread> workers_;
  // Job word: generation << 16 | helpers; the generation is bumped per job and workers
  // [0, helpers) take part. One word, so a late worker never mixes two jobs' values.
  std::atomic<uint64_t> job_{0};
  std::atomic<int> active_{0};    // helpers still inside the current job
  std::atomic<int64_t> next_{0};  // next unclaimed task
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace tern::cpu
