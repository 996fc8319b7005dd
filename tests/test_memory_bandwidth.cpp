// The read-bandwidth measurement (backends/cpu/memory_bandwidth.h): its read kernels sum every word
// of a task (so none is skipped or read twice), and a measurement at each level passes its
// own checksum and reports a sane rate.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/memory_bandwidth.h"
#include "cpu_test_support.h"

namespace tern::cpu {
namespace {

using SumFn = uint64_t (*)(const uint64_t*);

// Random words (the sum of a skipped or doubled word would differ), 64-byte aligned.
std::vector<uint64_t> random_words(size_t n) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> words(n + 8);
  for (auto& w : words) w = rng();
  return words;
}

const uint64_t* aligned64(const std::vector<uint64_t>& words) {
  auto address = reinterpret_cast<uintptr_t>(words.data());
  return words.data() + ((64 - address % 64) % 64) / sizeof(uint64_t);
}

TEST(MemoryBandwidth, ReadKernelsSumEveryWordOfATask) {
  std::vector<std::pair<const char*, SumFn>> kernels = {{"portable", sum_task_words}};
  if (!test::simd_levels().empty()) kernels.push_back({"avx2", avx2::sum_task_words});
  auto words = random_words(2 * kReadTaskWords);
  const uint64_t* p = aligned64(words);
  for (auto [name, sum] : kernels) {
    for (size_t task = 0; task < 2; ++task) {
      const uint64_t* first = p + task * kReadTaskWords;
      uint64_t expected = std::accumulate(first, first + kReadTaskWords, uint64_t{0});
      EXPECT_EQ(sum(first), expected) << name << " task " << task;
    }
  }
}

TEST(MemoryBandwidth, MeasuresEveryLevelWithASaneRate) {
  std::vector<Isa> levels = test::simd_levels();
  levels.insert(levels.begin(), Isa::Scalar);
  for (Isa isa : levels) {
    ScopedIsa scoped(isa);
    // 64 MiB: twice the largest L3 measured, small enough for a quick test. A bad
    // checksum throws; a broken timer gives a rate outside any DRAM's (0.1 GB/s .. 10 TB/s).
    Bandwidth bw = measure_read_bandwidth(2, size_t{64} << 20, 3);
    EXPECT_TRUE(std::isfinite(bw.best_gbps)) << isa_name(isa);
    EXPECT_GE(bw.best_gbps, bw.median_gbps) << isa_name(isa);
    EXPECT_GT(bw.median_gbps, 0.1) << isa_name(isa);
    EXPECT_LT(bw.best_gbps, 1e4) << isa_name(isa);
  }
}

TEST(MemoryBandwidth, RoundsTinyBuffersUpToOneTask) {
  Bandwidth bw = measure_read_bandwidth(1, 1, 1);
  EXPECT_GT(bw.best_gbps, 0.0);
  EXPECT_EQ(bw.best_gbps, bw.median_gbps);
}

}  // namespace
}  // namespace tern::cpu
