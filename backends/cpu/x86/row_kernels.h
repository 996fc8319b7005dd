// The x86 SIMD kernel bodies, expanded once per SIMD level by row_kernels_<level>.cpp with
// TERN_SIMD_NAMESPACE set (avx2, avx512) and that level's compiler flags. Everything here is
// either in that namespace or in an anonymous one: no inline function or template shared
// with baseline code is instantiated with wider instructions (the linker could pick it).
//
// Dot kernels: one weight row of n values (blocks of the weight type) against n_x <= 4
// activation rows (blocks of the type's vec_dot_type, x_stride bytes apart); out[j] =
// w . x_j. The weight is unpacked once per block and used for every activation row, which
// is what makes prompt processing (4 rows at a time) cheaper per token than decoding.
// Integer products are exact; each block's (or sub-block's) sum is scaled in float.
// Decode kernels (dot_rows): one activation row against n_w weight rows; the quantized
// types take 4 rows per pass and fold the rows' integer sums into one vector before scaling.
//
// The legacy types' kernels are in row_kernels_legacy.h, the K-quants' in
// row_kernels_kquant.h, shared helpers in simd_helpers.h; this file holds the float kernels, the activation
// quantizers and the exported functions of ../row_kernels.h.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/row_kernels.h"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/cpu/row_kernels.h"
#include "backends/cpu/x86/row_kernels_kquant.h"
#include "backends/cpu/x86/row_kernels_legacy.h"
#include "backends/cpu/x86/simd_helpers.h"
#include "types/blocks.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

// ---- float weights against float activations ----

struct F32 {
  static __m256 load8(const void* w, int64_t i) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  }
  static float at(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
};
struct F16 {
  static __m256 load8(const void* w, int64_t i) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  }
  static float at(const void* w, int64_t i) { return f16(static_cast<const uint16_t*>(w)[i]); }
};
struct BF16 {
  static __m256 load8(const void* w, int64_t i) {
    __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float at(const void* w, int64_t i) {
    uint32_t bits = uint32_t{static_cast<const uint16_t*>(w)[i]} << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

template <typename W, int NX>
void float_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  __m256 acc[NX][2];
  for (int j = 0; j < NX; ++j) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
  auto xrow = [&](int j) {
    return reinterpret_cast<const float*>(static_cast<const uint8_t*>(x) + stride * j);
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 w0 = W::load8(w, i);
    __m256 w1 = W::load8(w, i + 8);
    for (int j = 0; j < NX; ++j) {
      acc[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xrow(j) + i), acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xrow(j) + i + 8), acc[j][1]);
    }
  }
  for (int j = 0; j < NX; ++j) {
    float sum = hsum(_mm256_add_ps(acc[j][0], acc[j][1]));
    for (int64_t t = i; t < n; ++t) sum += W::at(w, t) * xrow(j)[t];
    out[j] = sum;
  }
}

// ---- activation quantizers ----

// Largest |x| over 8-float vectors.
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

// 32 floats * inv_scale rounded to nearest (ties to even) into 32 int8 at out; returns the
// sum of the quants as 8 int32 lanes of 16-bit pair sums.
__m256i round_32(const float* in, float inv_scale, int8_t* out) {
  __m256 s = _mm256_set1_ps(inv_scale);
  __m256i q[4];
  for (int k = 0; k < 4; ++k)
    q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(in + 8 * k), s));
  // packs interleave 128-bit lanes; the permute restores value order.
  __m256i q16a = _mm256_packs_epi32(q[0], q[1]);
  __m256i q16b = _mm256_packs_epi32(q[2], q[3]);
  __m256i q8 = _mm256_packs_epi16(q16a, q16b);
  q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), q8);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q8), _mm256_set1_epi16(1));
}

template <typename Block>
void quantize_q8_32(const float* in, void* blocks, int64_t n) {
  auto* b = static_cast<Block*>(blocks);
  for (int64_t i = 0; i < n / kBlock32; ++i, in += kBlock32) {
    float d = max_abs(in, kBlock32) / 127.0f;
    int sum = hsum_i32(round_32(in, d > 0 ? 1.0f / d : 0.0f, b[i].qs));
    b[i].d = _cvtss_sh(d, 0);
    if constexpr (sizeof(Block) == sizeof(BlockQ8_1)) {
      b[i].s = _cvtss_sh(d * static_cast<float>(sum), 0);
    }
  }
}

// DotFn of a kernel Rows<NX>::run(n, w, x, x_stride, out) over NX activation rows.
template <template <int> typename Rows>
void by_rows(int64_t n, const void* w, const void* x, size_t stride, int n_x, float* out) {
  in_groups<kMaxRows>(n_x, [&]<int NX>(int64_t t) {
    Rows<NX>::run(n, w, offset_bytes(x, t, stride), stride, out + t);
  });
}

// DotRowsFn of a one-weight-row kernel: row after row.
template <template <int> typename Rows>
void rows_singly(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x, float* y) {
  for (int64_t r = 0; r < n_w; ++r) Rows<1>::run(n, offset_bytes(w, r, w_stride), x, 0, y + r);
}

template <typename W>
struct Float {
  template <int NX>
  struct Rows {
    static void run(int64_t n, const void* w, const void* x, size_t s, float* out) {
      float_rows<W, NX>(n, w, x, s, out);
    }
  };
};
#define TERN_ROWS(name, fn)                                                          \
  template <int NX>                                                                  \
  struct name {                                                                      \
    static void run(int64_t n, const void* w, const void* x, size_t s, float* out) { \
      fn(n, w, x, s, out);                                                           \
    }                                                                                \
  };
TERN_ROWS(Q2K, q2_k_rows<NX>)
TERN_ROWS(Q3K, q3_k_rows<NX>)
TERN_ROWS(IQ4XS, iq4_xs_rows<NX>)
#undef TERN_ROWS

}  // namespace

#define TERN_DOT(type, rows)                                                                       \
  void dot_##type(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    by_rows<rows>(n, w, x, x_stride, n_x, out);                                                    \
  }                                                                                                \
  void dot_##type##_rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,    \
                         float* y) {                                                               \
    rows_singly<rows>(n, w, w_stride, n_w, x, y);                                                  \
  }
TERN_DOT(f32, Float<F32>::Rows)
TERN_DOT(f16, Float<F16>::Rows)
TERN_DOT(bf16, Float<BF16>::Rows)
TERN_DOT(q2_k, Q2K)
TERN_DOT(q3_k, Q3K)
TERN_DOT(iq4_xs, IQ4XS)
#undef TERN_DOT

#define TERN_KQUANT(type, K)                                                                       \
  void dot_##type(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    by_rows<KQuant<K>::template Rows>(n, w, x, x_stride, n_x, out);                                \
  }                                                                                                \
  void dot_##type##_rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,    \
                         float* y) {                                                               \
    KQuant<K>::rows(n, w, w_stride, n_w, x, y);                                                    \
  }
TERN_KQUANT(q4_k, Q4K)
TERN_KQUANT(q5_k, Q5K)
TERN_KQUANT(q6_k, Q6K)
#undef TERN_KQUANT

#define TERN_LEGACY(type, W)                                                                       \
  void dot_##type(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    by_rows<Legacy<W>::template Rows>(n, w, x, x_stride, n_x, out);                                \
  }                                                                                                \
  void dot_##type##_rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,    \
                         float* y) {                                                               \
    Legacy<W>::rows(n, w, w_stride, n_w, x, y);                                                    \
  }                                                                                                \
  void dot2_##type(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride,      \
                   int n_x, float* y, int64_t y_stride) {                                          \
    Legacy<W>::pairs(n, w, w_stride, x, x_stride, n_x, y, y_stride);                               \
  }
TERN_LEGACY(q4_0, Q4_0)
TERN_LEGACY(q4_1, Q4_1)
TERN_LEGACY(q5_0, Q5_0)
TERN_LEGACY(q5_1, Q5_1)
TERN_LEGACY(q8_0, Q8_0)
TERN_LEGACY(iq4_nl, IQ4_NL)
TERN_LEGACY(mxfp4, MXFP4)
#undef TERN_LEGACY

void quantize_q8_0(const float* in, void* blocks, int64_t n) {
  quantize_q8_32<BlockQ8_0>(in, blocks, n);
}

void quantize_q8_1(const float* in, void* blocks, int64_t n) {
  quantize_q8_32<BlockQ8_1>(in, blocks, n);
}

// Q8_K: d = max|x| / 127 per 256 values, plus the sum of each 16 quants.
void quantize_q8_k(const float* in, void* blocks, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(blocks);
  for (int64_t i = 0; i < n / kSuperBlock; ++i, in += kSuperBlock) {
    float d = max_abs(in, kSuperBlock) / 127.0f;
    float inv = d > 0 ? 1.0f / d : 0.0f;
    for (int c = 0; c < 8; ++c) {
      __m256i pairs = round_32(in + 32 * c, inv, b[i].qs + 32 * c);
      // pairs lanes: 4 values each, in order; 4 lanes = 16 values.
      __m128i h = _mm_hadd_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
      h = _mm_hadd_epi32(h, h);
      b[i].bsums[2 * c] = static_cast<int16_t>(_mm_extract_epi32(h, 0));
      b[i].bsums[2 * c + 1] = static_cast<int16_t>(_mm_extract_epi32(h, 1));
    }
    b[i].d = d;
  }
}

}  // namespace tern::TERN_SIMD_NAMESPACE
