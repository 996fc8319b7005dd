// The packed GEMM's x86 kernels (cpu/packed_gemm_kernels.h), expanded once per SIMD level by
// packed_gemm_<level>.cpp with TERN_SIMD_NAMESPACE set and that level's flags. Everything is
// in that namespace or an anonymous one, so no inline function is shared across levels.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including packed_gemm_x86.h"
#endif

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "cpu/packed_gemm_kernels.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

using cpu::kPackBlock;
using cpu::kStepValues;
using cpu::kTileBlockBytes;
using cpu::kTileRows;
using cpu::kTileTokens;

constexpr int kSteps = kPackBlock / kStepValues;  // 8 tile vectors per block

__m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 4 activation bytes repeated in every 32-bit lane.
__m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// 16-bit pair sums of u (unsigned bytes) * s (signed bytes).
__m256i pair_products(__m256i u, __m256i s) { return _mm256_maddubs_epi16(u, s); }

// 16-bit lanes times 16-bit factors, adjacent pairs summed: 8 int32.
__m256i widen(__m256i sums16, __m256i factors) { return _mm256_madd_epi16(sums16, factors); }

// Tile (8 rows) x NT tokens. Per block: sum over steps of the byte products (16-bit, G steps
// at a time, then widened with the sub-scales or ones), times the rows' d and the token's d;
// plus the rows' minimums times the token's block sum.
template <int NT, int G, bool kSigned, bool kMin, bool kSub>
void tile_kernel(const cpu::PackedTile& w, const cpu::PackedActs& x, int64_t t0, float* out) {
  static_assert(kSteps % G == 0 && (!kSub || G <= kSteps / 2));
  const __m256i ones = _mm256_set1_epi16(1);
  const int8_t* xq[NT];
  const float* xd[NT];
  const float* xs[NT];
  for (int t = 0; t < NT; ++t) {
    xq[t] = x.q + (t0 + t) * x.q_stride;
    xd[t] = x.d + (t0 + t) * x.n_blocks;
    xs[t] = x.s + (t0 + t) * x.n_blocks;
  }
  __m256 acc[NT];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (int64_t b = 0; b < w.n_blocks; ++b) {
    const int8_t* wq = w.q + b * kTileBlockBytes;
    __m256i block_sum[NT];
    for (auto& s : block_sum) s = _mm256_setzero_si256();
    for (int g = 0; g < kSteps; g += G) {
      __m256i sums16[NT];
      for (auto& s : sums16) s = _mm256_setzero_si256();
      for (int step = g; step < g + G; ++step) {
        __m256i q = load256(wq + 32 * step);
        // maddubs wants one unsigned operand: signed weights give it |q| and move their
        // sign onto the activations.
        __m256i q_u = kSigned ? _mm256_sign_epi8(q, q) : q;
        for (int t = 0; t < NT; ++t) {
          __m256i xb = broadcast4(xq[t] + b * kPackBlock + kStepValues * step);
          __m256i p = pair_products(q_u, kSigned ? _mm256_sign_epi8(xb, q) : xb);
          sums16[t] = _mm256_add_epi16(sums16[t], p);
        }
      }
      __m256i factors = ones;
      if constexpr (kSub) factors = load256(w.sub + (2 * b + g / (kSteps / 2)) * 16);
      for (int t = 0; t < NT; ++t) {
        block_sum[t] = _mm256_add_epi32(block_sum[t], widen(sums16[t], factors));
      }
    }
    __m256 d = _mm256_loadu_ps(w.d + b * kTileRows);
    for (int t = 0; t < NT; ++t) {
      __m256 scale = _mm256_mul_ps(d, _mm256_set1_ps(xd[t][b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sum[t]), scale, acc[t]);
    }
    if constexpr (kMin) {
      __m256 m = _mm256_loadu_ps(w.min + b * kTileRows);
      for (int t = 0; t < NT; ++t) acc[t] = _mm256_fmadd_ps(m, _mm256_set1_ps(xs[t][b]), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(out + t * kTileRows, acc[t]);
}

using KernelFn = void (*)(const cpu::PackedTile&, const cpu::PackedActs&, int64_t, float*);

// The kernels of one shape for 1..kTileTokens tokens.
template <int G, bool kSigned, bool kMin, bool kSub>
constexpr KernelFn kKernels[kTileTokens] = {
    tile_kernel<1, G, kSigned, kMin, kSub>, tile_kernel<2, G, kSigned, kMin, kSub>,
    tile_kernel<3, G, kSigned, kMin, kSub>, tile_kernel<4, G, kSigned, kMin, kSub>};

// The shapes the packed formats use (cpu/packed_gemm.cpp's table); others are a bug.
KernelFn kernel_for(const cpu::TileShape& s, int n_tokens) {
  int i = n_tokens - 1;
  if (s.is_signed && !s.has_min && !s.has_sub && s.group_steps == 1) return kKernels<1, true, false, false>[i];
  if (s.is_signed && !s.has_min && s.has_sub && s.group_steps == 4) return kKernels<4, true, false, true>[i];
  if (!s.is_signed && s.has_min && !s.has_sub && s.group_steps == 8) return kKernels<8, false, true, false>[i];
  if (!s.is_signed && s.has_min && !s.has_sub && s.group_steps == 4) return kKernels<4, false, true, false>[i];
  return nullptr;
}

float max_abs(const float* in, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8)
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(in + i)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

}  // namespace

// Per 32 values: d = max|x| / 127, q = round(x / d) (ties to even), s = d * sum(q).
void quantize_packed_acts(const float* x, int64_t cols, int8_t* q, float* d, float* s) {
  for (int64_t b = 0; b < cols / kPackBlock; ++b, x += kPackBlock, q += kPackBlock) {
    float scale = max_abs(x, kPackBlock) / 127.0f;
    __m256 inv = _mm256_set1_ps(scale > 0 ? 1.0f / scale : 0.0f);
    __m256i r[4];
    for (int k = 0; k < 4; ++k) r[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), inv));
    // packs interleave 128-bit lanes; the permute restores value order.
    __m256i q8 = _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
    q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), q8);
    __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q8), _mm256_set1_epi16(1));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    d[b] = scale;
    s[b] = scale * static_cast<float>(_mm_cvtsi128_si32(h));
  }
}

void packed_tile_gemm(const cpu::TileShape& shape, const cpu::PackedTile& w,
                      const cpu::PackedActs& x, int64_t t0, int n_tokens, int n_rows, float* y,
                      int64_t y_stride) {
  alignas(32) float out[kTileTokens * kTileRows];
  kernel_for(shape, n_tokens)(w, x, t0, out);
  for (int t = 0; t < n_tokens; ++t) {
    std::memcpy(y + t * y_stride, out + t * kTileRows, sizeof(float) * static_cast<size_t>(n_rows));
  }
}

}  // namespace tern::TERN_SIMD_NAMESPACE
