// Helpers shared by the CPU kernel tests: seeded random data and the SIMD levels to cover.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "backends/cpu/cpu_features.h"

namespace tern::cpu::test {

/// n values drawn from N(0, stddev^2) with a fixed seed.
inline std::vector<float> random_values(size_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

/// Every SIMD level this CPU can run (the scalar level has no SIMD kernels).
inline std::vector<Isa> simd_levels() {
  std::vector<Isa> levels;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Amx}) {
    if (isa <= detected_isa()) levels.push_back(isa);
  }
  return levels;
}

}  // namespace tern::cpu::test
