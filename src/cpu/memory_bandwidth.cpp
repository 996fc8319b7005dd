#include "cpu/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "cpu/thread_pool.h"

namespace tern::cpu {

namespace {

// 64 KiB chunks handed out one at a time keep every thread busy to the end.
constexpr size_t kChunkWords = (64 * 1024) / sizeof(uint64_t);

uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t acc[8] = {};
  for (size_t i = 0; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += p[i + static_cast<size_t>(k)];
  }
  return acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
}

}  // namespace

Bandwidth measure_read_bandwidth(int n_threads, size_t bytes, int reps) {
  size_t n_words = std::max(kChunkWords, bytes / sizeof(uint64_t) / kChunkWords * kChunkWords);
  std::unique_ptr<uint64_t[]> data(new uint64_t[n_words]);
  int64_t n_chunks = static_cast<int64_t>(n_words / kChunkWords);
  ThreadPool& pool = ThreadPool::shared();
  pool.run(n_chunks, n_threads, [&](int64_t c) {
    uint64_t* p = data.get() + static_cast<size_t>(c) * kChunkWords;
    for (size_t i = 0; i < kChunkWords; ++i) p[i] = i;
  });
  std::vector<uint64_t> sums(static_cast<size_t>(n_chunks));
  std::vector<double> gbps;
  for (int r = 0; r < std::max(1, reps); ++r) {
    auto start = std::chrono::steady_clock::now();
    pool.run(n_chunks, n_threads, [&](int64_t c) {
      sums[static_cast<size_t>(c)] =
          sum_words(data.get() + static_cast<size_t>(c) * kChunkWords, kChunkWords);
    });
    std::chrono::duration<double> s = std::chrono::steady_clock::now() - start;
    gbps.push_back(static_cast<double>(n_words * sizeof(uint64_t)) / s.count() / 1e9);
  }
  // The sums must be used, or the reads could be dropped.
  volatile uint64_t sink = 0;
  for (uint64_t s : sums) sink = sink + s;
  std::sort(gbps.begin(), gbps.end());
  return {gbps.back(), gbps[gbps.size() / 2]};
}

}  // namespace tern::cpu
