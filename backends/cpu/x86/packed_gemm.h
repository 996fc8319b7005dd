// The packed GEMM's 256-bit kernels (backends/cpu/packed_gemm_kernels.h) over 16-row tiles,
// expanded by packed_gemm_avx2.cpp with TERN_SIMD_NAMESPACE set and that level's flags (AVX512 has
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

constexpr int kSteps = kPackBlock / kStepValues;  // 8 tile steps per block
// Two 8-row halves per tile: each activation broadcast serves both halves' vectors. With
// one half (8 rows) a step was 4 broadcasts, 4 vpmaddubsw and 4 adds for 32 products per
// token; the broadcasts compete for the same vector pipes, so sharing them pays.
constexpr int kHalves = 2;
constexpr int kRows = kHalves * kTileRows;           // 16
constexpr int kStepBytes = kRows * kStepValues;      // one step's 4 values of every row
constexpr int kTileBlockBytes = kRows * kPackBlock;  // 512

// 16-bit pair sums of u (unsigned bytes) * s (signed bytes).
__m256i pair_products(__m256i u, __m256i s) { return _mm256_maddubs_epi16(u, s); }

// 16-bit lanes times 16-bit factors, adjacent pairs summed: 8 int32.
__m256i widen(__m256i sums16, __m256i factors) { return _mm256_madd_epi16(sums16, factors); }

// Tile (16 rows) x one group of kTileTokens tokens. Per block: sum over steps of the byte
// products (16-bit, G steps at a time, then widened with the sub-scales or ones; or
// straight into 32 bits, kDirect below), times the rows' d and the token's d; plus the
// rows' minimums times the token's block sum.
// The integer sums of kChunk blocks (one per G steps) wait in a buffer for one float pass:
// converting and scaling each block as it ends puts a long dependency chain (cvt, fma,
// store) behind every 8 steps, which stalled the step loop; apart, the float pass has few
// live registers and keeps its accumulators in them.
// With sub-scales (Q6_K, Q3_K: one scale per super-block on both sides, the activations
// being Q8_K) a chunk is one super-block (K-quant rows are whole super-blocks), so its sums
// add up as integers and are scaled once: at most 16 x 2 x 32512 x 127 for Q6_K, below 2^31.
// (Q4_K's block scales as sub-scales alike, d and the minimums per super-block, measured
// 3-5% slower: its minimums stay per block.)
template <int G, bool kSigned, bool kMin, bool kSub>
void tile_kernel(const cpu::PackedTile& w, const cpu::PackedActs& x, int64_t g, float* out,
                 int64_t out_stride) {
  static_assert(kSteps % G == 0 && (!kSub || (G > 1 && G <= kSteps / 2)));
  constexpr int NT = kTileTokens;
  constexpr int H = kHalves;
  constexpr int64_t kChunk = 8;  // blocks: a K-quant super-block
  // Products go straight into the 32-bit sums when not even two steps of 16-bit sums fit
  // (G = 1: Q8_0, IQ4_*): then one loop runs all 8 steps (as 8 loops of one step, GCC
  // copied the sums between registers each step).
  constexpr bool kDirect = G == 1;
  constexpr int kGroupSteps = kDirect ? kSteps : G;
  constexpr int kParts = kSteps / kGroupSteps;  // int32 sums per block, added in the float pass
  // Halves whose products run side by side. Signed weights take one at a time: each half
  // moves its own signs onto the broadcast anyway, and with both halves' |q| live their
  // sums no longer fit the 16 registers (spilled, Q8_0 and Q6_K ran no faster).
  constexpr int kTogether = kSigned ? 1 : H;
  __m256 acc[NT][H];
  for (auto& a : acc)
    for (auto& v : a) v = _mm256_setzero_ps();
  alignas(32) int32_t sums[kChunk][kParts][NT][kRows];
  for (int64_t b0 = 0; b0 < w.n_blocks; b0 += kChunk) {
    int64_t chunk = std::min(kChunk, w.n_blocks - b0);
    for (int64_t c = 0; c < chunk; ++c) {
      const int8_t* wq = w.q + (b0 + c) * kTileBlockBytes;
      const int8_t* bq = x.q + x.at<kTileTokens>(g, b0 + c) * kPackBlock;
      // The step loops stay (nearly) rolled: unrolled further, the compiler keeps every
      // step's vectors live and spills the sums. Two steps per iteration measured 3-8%
      // faster than one with 8-row tiles (bench_kernels prompt/, best of 12).
#pragma GCC unroll 1
      for (int h0 = 0; h0 < H; h0 += kTogether) {
#pragma GCC unroll 1
        for (int part = 0; part < kParts; ++part) {
          __m256i part_sums[NT][kTogether];
          for (auto& p : part_sums)
            for (auto& v : p) v = _mm256_setzero_si256();
#pragma GCC unroll 2
          for (int step = part * kGroupSteps; step < (part + 1) * kGroupSteps; ++step) {
            __m256i q[kTogether], q_u[kTogether];
            for (int h = 0; h < kTogether; ++h) {
              q[h] = load256(wq + kStepBytes * step + 32 * (h0 + h));
              // maddubs wants one unsigned operand: signed weights give it |q| and move
              // their sign onto the activations.
              q_u[h] = kSigned ? _mm256_sign_epi8(q[h], q[h]) : q[h];
            }
            for (int t = 0; t < NT; ++t) {
              __m256i xb = broadcast4(bq + t * kPackBlock + kStepValues * step);
              for (int h = 0; h < kTogether; ++h) {
                __m256i xs_signed = kSigned ? _mm256_sign_epi8(xb, q[h]) : xb;
                if constexpr (kDirect) {
                  part_sums[t][h] = add_dot_u8_i8(part_sums[t][h], q_u[h], xs_signed);
                } else {
                  part_sums[t][h] =
                      _mm256_add_epi16(part_sums[t][h], pair_products(q_u[h], xs_signed));
                }
              }
            }
          }
          for (int h = 0; h < kTogether; ++h) {
            const int half = h0 + h;
            __m256i factors = _mm256_set1_epi16(1);
            if constexpr (kSub) {  // sub[b][half of the block][2 * kRows]: this part's half
              factors = load256(w.sub + (2 * (b0 + c) + part * G / (kSteps / 2)) * 2 * kRows +
                                2 * kTileRows * half);
            }
            for (int t = 0; t < NT; ++t) {
              __m256i v = kDirect ? part_sums[t][h] : widen(part_sums[t][h], factors);
              _mm256_store_si256(reinterpret_cast<__m256i*>(sums[c][part][t] + kTileRows * half),
                                 v);
            }
          }
        }
      }
    }
    auto block_sums = [&](int64_t c, int t, int h) {
      __m256i sum =
          _mm256_load_si256(reinterpret_cast<const __m256i*>(sums[c][0][t] + kTileRows * h));
      for (int part = 1; part < kParts; ++part) {
        sum = _mm256_add_epi32(
            sum,
            _mm256_load_si256(reinterpret_cast<const __m256i*>(sums[c][part][t] + kTileRows * h)));
      }
      return sum;
    };
    if constexpr (kSub) {
      static_assert(!kMin);
      const float* xd = x.d + x.at<kTileTokens>(g, b0);
      for (int h = 0; h < H; ++h) {
        const __m256 d = _mm256_loadu_ps(w.d + b0 * kRows + kTileRows * h);
        for (int t = 0; t < NT; ++t) {
          __m256i sum = block_sums(0, t, h);
          for (int64_t c = 1; c < kChunk; ++c) sum = _mm256_add_epi32(sum, block_sums(c, t, h));
          acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum),
                                      _mm256_mul_ps(d, _mm256_broadcast_ss(xd + t)), acc[t][h]);
        }
      }
      continue;
    }
    for (int64_t c = 0; c < chunk; ++c) {
      int64_t b = b0 + c;
      const int64_t i =
          x.at<kTileTokens>(g, b);  // the group's first (token, block) pair of block b
      const float* xd = x.d + i;
      const float* xs = x.s + i;
      for (int h = 0; h < H; ++h) {
        __m256 d = _mm256_loadu_ps(w.d + b * kRows + kTileRows * h);
        for (int t = 0; t < NT; ++t) {
          acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sums(c, t, h)),
                                      _mm256_mul_ps(d, _mm256_broadcast_ss(xd + t)), acc[t][h]);
        }
        if constexpr (kMin) {
          __m256 m = _mm256_loadu_ps(w.min + b * kRows + kTileRows * h);
          for (int t = 0; t < NT; ++t)
            acc[t][h] = _mm256_fmadd_ps(m, _mm256_broadcast_ss(xs + t), acc[t][h]);
        }
      }
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int h = 0; h < H; ++h) _mm256_storeu_ps(out + t * out_stride + kTileRows * h, acc[t][h]);
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

int packed_tile_rows() { return kRows; }

int packed_chunk_tokens() { return kTileTokens; }

void packed_tile_gemm(const cpu::TileShape& shape, const cpu::PackedTile& w,
                      const cpu::PackedActs& x, int64_t g, int64_t n_groups, float* y,
                      int64_t y_stride) {
  const KernelFn kernel = kernel_for(shape);
  for (int64_t k = 0; k < n_groups; ++k)
    kernel(w, x, g + k, y + k * kTileTokens * y_stride, y_stride);
}

}  // namespace tern::TERN_SIMD_NAMESPACE
