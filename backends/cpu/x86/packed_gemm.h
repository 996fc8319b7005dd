// The packed GEMM's 256-bit kernels (backends/cpu/packed_gemm_kernels.h) over 8-row tiles, expanded
// by packed_gemm_avx2.cpp with TERN_SIMD_NAMESPACE set and that level's flags (AVX512 has
// its own 16-row body, packed_gemm_avx512.cpp). Everything is in that namespace or an
// anonymous one, so no inline function is shared across levels.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/packed_gemm.h"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "backends/cpu/packed_gemm_kernels.h"
#include "backends/cpu/x86/simd_helpers.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

using cpu::kPackBlock;
using cpu::kStepValues;
using cpu::kTileRows;
using cpu::kTileTokens;

constexpr int kSteps = kPackBlock / kStepValues;  // 8 tile vectors per block
constexpr int kTileBlockBytes = kTileRows * kPackBlock;  // 256

// 16-bit pair sums of u (unsigned bytes) * s (signed bytes).
__m256i pair_products(__m256i u, __m256i s) { return _mm256_maddubs_epi16(u, s); }

// 16-bit lanes times 16-bit factors, adjacent pairs summed: 8 int32.
__m256i widen(__m256i sums16, __m256i factors) { return _mm256_madd_epi16(sums16, factors); }

// Tile (8 rows) x one group of kTileTokens tokens. Per block: sum over steps of the byte
// products (16-bit, G steps at a time, then widened with the sub-scales or ones; or
// straight into 32 bits, kDirect below), times the
// rows' d and the token's d; plus the rows' minimums times the token's block sum.
// The integer sums of kChunk blocks wait in a buffer for one float pass: converting and
// scaling each block as it ends puts a long dependency chain (cvt, fma, store) behind every
// 8 steps, which stalled the step loop; apart, the float pass has few live registers and
// keeps its accumulators in them.
template <int G, bool kSigned, bool kMin, bool kSub>
void tile_kernel(const cpu::PackedTile& w, const cpu::PackedActs& x, int64_t g, float* out,
                 int64_t out_stride) {
  static_assert(kSteps % G == 0 && (!kSub || (G > 1 && G <= kSteps / 2)));
  constexpr int NT = kTileTokens;
  constexpr int64_t kChunk = 8;
  // Products go straight into the 32-bit sums when not even two steps of 16-bit sums fit
  // (G = 1: Q8_0, IQ4_*): then one loop runs all 8 steps (as 8 loops of one step, GCC
  // copied the sums between registers each step).
  constexpr bool kDirect = G == 1;
  constexpr int kGroupSteps = kDirect ? kSteps : G;
  const __m256i ones = _mm256_set1_epi16(1);
  const int8_t* xq = x.q + g * x.n_blocks * NT * kPackBlock;
  const float* xd = x.d + g * x.n_blocks * NT;
  const float* xs = x.s + g * x.n_blocks * NT;
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  alignas(32) int32_t sums[kChunk][NT][kTileRows];
  for (int64_t b0 = 0; b0 < w.n_blocks; b0 += kChunk) {
    int64_t chunk = std::min(kChunk, w.n_blocks - b0);
    for (int64_t c = 0; c < chunk; ++c) {
      const int8_t* wq = w.q + (b0 + c) * kTileBlockBytes;
      const int8_t* bq = xq + (b0 + c) * NT * kPackBlock;
      __m256i block_sum[NT];
      for (auto& v : block_sum) v = _mm256_setzero_si256();
      // The step loops stay (nearly) rolled: unrolled further, the compiler keeps every
      // step's vectors live and spills the accumulators. Two steps per iteration measured
      // 3-8% faster than one (bench_kernels prompt/, best of 12).
#pragma GCC unroll 1
      for (int first = 0; first < kSteps; first += kGroupSteps) {
        __m256i sums16[NT];
        for (auto& v : sums16) v = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int step = first; step < first + kGroupSteps; ++step) {
          __m256i q = load256(wq + 32 * step);
          // maddubs wants one unsigned operand: signed weights give it |q| and move their
          // sign onto the activations.
          __m256i q_u = kSigned ? _mm256_sign_epi8(q, q) : q;
          for (int t = 0; t < NT; ++t) {
            __m256i xb = broadcast4(bq + t * kPackBlock + kStepValues * step);
            __m256i xs_signed = kSigned ? _mm256_sign_epi8(xb, q) : xb;
            if constexpr (kDirect) {
              block_sum[t] = add_dot_u8_i8(block_sum[t], q_u, xs_signed);
            } else {
              sums16[t] = _mm256_add_epi16(sums16[t], pair_products(q_u, xs_signed));
            }
          }
        }
        if constexpr (kDirect) continue;
        __m256i factors = ones;
        if constexpr (kSub) factors = load256(w.sub + (2 * (b0 + c) + first / (kSteps / 2)) * 16);
        for (int t = 0; t < NT; ++t) {
          __m256i wide = widen(sums16[t], factors);
          block_sum[t] = _mm256_add_epi32(block_sum[t], wide);
        }
      }
      for (int t = 0; t < NT; ++t) _mm256_store_si256(reinterpret_cast<__m256i*>(sums[c][t]), block_sum[t]);
    }
    for (int64_t c = 0; c < chunk; ++c) {
      int64_t b = b0 + c;
      __m256 d = _mm256_loadu_ps(w.d + b * kTileRows);
      for (int t = 0; t < NT; ++t) {
        __m256 sum = _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(sums[c][t])));
        acc[t] = _mm256_fmadd_ps(sum, _mm256_mul_ps(d, _mm256_broadcast_ss(xd + NT * b + t)), acc[t]);
      }
      if constexpr (kMin) {
        __m256 m = _mm256_loadu_ps(w.min + b * kTileRows);
        for (int t = 0; t < NT; ++t) acc[t] = _mm256_fmadd_ps(m, _mm256_broadcast_ss(xs + NT * b + t), acc[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(out + t * out_stride, acc[t]);
}

using KernelFn = void (*)(const cpu::PackedTile&, const cpu::PackedActs&, int64_t, float*, int64_t);

// The shapes the packed formats use (backends/cpu/packed_gemm.cpp's table); others are a bug.
KernelFn kernel_for(const cpu::TileShape& s) {
  if (s.is_signed && !s.has_min && !s.has_sub && s.group_steps == 1)
    return tile_kernel<1, true, false, false>;
  if (s.is_signed && !s.has_min && s.has_sub && s.group_steps == 4)
    return tile_kernel<4, true, false, true>;
  if (!s.is_signed && s.has_min && !s.has_sub && s.group_steps == 8)
    return tile_kernel<8, false, true, false>;
  if (!s.is_signed && s.has_min && !s.has_sub && s.group_steps == 4)
    return tile_kernel<4, false, true, false>;
  return nullptr;
}

}  // namespace

int packed_tile_rows() { return kTileRows; }

void packed_tile_gemm(const cpu::TileShape& shape, const cpu::PackedTile& w,
                      const cpu::PackedActs& x, int64_t g, int64_t n_groups, float* y,
                      int64_t y_stride) {
  const KernelFn kernel = kernel_for(shape);
  for (int64_t k = 0; k < n_groups; ++k)
    kernel(w, x, g + k, y + k * kTileTokens * y_stride, y_stride);
}

}  // namespace tern::TERN_SIMD_NAMESPACE
