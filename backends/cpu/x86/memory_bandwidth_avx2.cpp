// AVX2 read kernel of the bandwidth measurement (compiled with -mavx2; see CMakeLists.txt).
#include <immintrin.h>

#include "backends/cpu/memory_bandwidth.h"

namespace tern::cpu::avx2 {

namespace {

constexpr size_t kStreamWords = kReadTaskWords / kReadStreams;
constexpr size_t kStepWords = 16;  // 128 bytes (two cache lines) per stream per step

__m256i load(const uint64_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }

}  // namespace

uint64_t sum_task_words(const uint64_t* p) {
  static_assert(kReadStreams == 4 && kStreamWords % kStepWords == 0);
  // One accumulator per stream; each step adds four loads of 32 bytes per stream.
  __m256i acc[kReadStreams] = {};
  for (size_t i = 0; i < kStreamWords; i += kStepWords) {
    for (size_t s = 0; s < kReadStreams; ++s) {
      const uint64_t* q = p + s * kStreamWords + i;
      __m256i a = _mm256_add_epi64(load(q), load(q + 4));
      __m256i b = _mm256_add_epi64(load(q + 8), load(q + 12));
      acc[s] = _mm256_add_epi64(acc[s], _mm256_add_epi64(a, b));
    }
  }
  __m256i all =
      _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3]));
  __m128i half = _mm_add_epi64(_mm256_castsi256_si128(all), _mm256_extracti128_si256(all, 1));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(half)) +
         static_cast<uint64_t>(_mm_extract_epi64(half, 1));
}

}  // namespace tern::cpu::avx2
