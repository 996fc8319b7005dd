#include "backends/cpu/memory_bandwidth.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <new>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/thread_pool.h"
#include "tern/error.h"

namespace tern::cpu {

namespace {

using SumFn = uint64_t (*)(const uint64_t*);

SumFn read_kernel(Isa isa) { return isa == Isa::Scalar ? sum_task_words : avx2::sum_task_words; }

struct AlignedFree {
  void operator()(uint64_t* p) const { ::operator delete[](p, std::align_val_t{64}); }
};
using Buffer = std::unique_ptr<uint64_t[], AlignedFree>;

// Word i holds i, so the buffer's sum is n (n - 1) / 2 (mod 2^64).
uint64_t expected_sum(size_t n_words) {
  uint64_t n = n_words;
  return n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
}

}  // namespace

uint64_t sum_task_words(const uint64_t* p) {
  constexpr size_t kStreamWords = kReadTaskWords / kReadStreams;
  uint64_t acc[kReadStreams][2] = {};
  for (size_t i = 0; i < kStreamWords; i += 2) {
    for (size_t s = 0; s < kReadStreams; ++s) {
      acc[s][0] += p[s * kStreamWords + i];
      acc[s][1] += p[s * kStreamWords + i + 1];
    }
  }
  uint64_t sum = 0;
  for (const auto& a : acc) sum += a[0] + a[1];
  return sum;
}

Bandwidth measure_read_bandwidth(int n_threads, size_t bytes, int reps) {
  const int64_t n_tasks = static_cast<int64_t>(std::max<size_t>(1, bytes / kReadTaskBytes));
  const size_t n_words = static_cast<size_t>(n_tasks) * kReadTaskWords;
  Buffer data(new (std::align_val_t{64}) uint64_t[n_words]);
  ThreadPool& pool = ThreadPool::shared();
  pool.run(n_tasks, n_threads, [&](int64_t t) {
    size_t first = static_cast<size_t>(t) * kReadTaskWords;
    for (size_t i = first; i < first + kReadTaskWords; ++i) data[i] = i;
  });
  const SumFn sum_task = read_kernel(active_isa());
  std::vector<uint64_t> sums(static_cast<size_t>(n_tasks));
  std::vector<double> gbps;
  for (int r = 0; r < std::max(1, reps); ++r) {
    auto start = std::chrono::steady_clock::now();
    pool.run(n_tasks, n_threads, [&](int64_t t) {
      sums[static_cast<size_t>(t)] = sum_task(data.get() + static_cast<size_t>(t) * kReadTaskWords);
    });
    std::chrono::duration<double> s = std::chrono::steady_clock::now() - start;
    gbps.push_back(static_cast<double>(n_words * sizeof(uint64_t)) / s.count() / 1e9);
    // Checking the sum uses every load (none can be dropped) and proves none was skipped.
    uint64_t total = 0;
    for (uint64_t x : sums) total += x;
    if (total != expected_sum(n_words)) {
      throw Error(fmt::format("read bandwidth: pass {} summed {} instead of {}", r, total,
                              expected_sum(n_words)));
    }
  }
  std::sort(gbps.begin(), gbps.end());
  return {gbps.back(), gbps[gbps.size() / 2]};
}

}  // namespace tern::cpu
