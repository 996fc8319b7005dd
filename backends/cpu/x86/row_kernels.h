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
#include <type_traits>

#include "backends/cpu/row_kernels.h"
#include "backends/cpu/type_kernels.h"
#include "backends/cpu/x86/row_kernels_kquant.h"
#include "backends/cpu/x86/row_kernels_legacy.h"
#include "backends/cpu/x86/simd_helpers.h"
#include "types/blocks.h"
#include "types/float_types.h"

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

// The float weights' vectors: 16 lanes at AVX512, 8 at AVX2. (The zero-masked forms of
// the AVX512 intrinsics: GCC 12's plain ones fail -Werror=maybe-uninitialized.)
#if defined(__AVX512F__)
struct FloatVec {
  using V = __m512;
  static constexpr int64_t kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(V v) {
    const __m256d low = _mm512_maskz_extractf64x4_pd(0xf, _mm512_castps_pd(v), 0);
    const __m256d high = _mm512_maskz_extractf64x4_pd(0xf, _mm512_castps_pd(v), 1);
    return hsum(_mm256_add_ps(_mm256_castpd_ps(low), _mm256_castpd_ps(high)));
  }
  static V load(const uint16_t* p, F16) { return _mm512_maskz_cvtph_ps(0xffff, load256(p)); }
  static V load(const uint16_t* p, BF16) {
    return _mm512_castsi512_ps(
        _mm512_maskz_slli_epi32(0xffff, _mm512_maskz_cvtepu16_epi32(0xffff, load256(p)), 16));
  }
};
#else
struct FloatVec {
  using V = __m256;
  static constexpr int64_t kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(V v) { return hsum(v); }
  static V load(const uint16_t* p, F16) { return F16::load8(p, 0); }
  static V load(const uint16_t* p, BF16) { return BF16::load8(p, 0); }
};
#endif

// kLanes weights of row w from value i on, as floats.
template <typename W>
FloatVec::V load_weights(const void* w, int64_t i) {
  if constexpr (std::is_same_v<W, F32>) {
    return FloatVec::load(static_cast<const float*>(w) + i);
  } else {
    return FloatVec::load(static_cast<const uint16_t*>(w) + i, W{});
  }
}

// R float weight rows (w_stride bytes apart) x NX float activation rows: y[j * y_stride + r]
// = w_r . x_j, kChains vector accumulators per pair taking every kChains-th vector (every
// weight vector loaded once for the NX rows, every activation vector once for the R rows),
// the last n % kLanes values in scalar. A pair's sum does not depend on R or NX, so every
// tile shape with the same chains gives the same bits.
template <typename W, int R, int NX, int kChains = 1>
void float_tile(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride, float* y,
                int64_t y_stride) {
  using V = FloatVec::V;
  constexpr int64_t kL = FloatVec::kLanes;
  V acc[R][NX][kChains];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < NX; ++j) {
      for (int c = 0; c < kChains; ++c) acc[r][j][c] = FloatVec::zero();
    }
  }
  auto wrow = [&](int r) { return offset_bytes(w, r, w_stride); };
  auto xrow = [&](int j) { return reinterpret_cast<const float*>(offset_bytes(x, j, x_stride)); };
  // kLanes values from i into chain c.
  auto step = [&](int64_t i, int c) {
    V wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load_weights<W>(wrow(r), i);
    for (int j = 0; j < NX; ++j) {
      V xv = FloatVec::load(xrow(j) + i);
      for (int r = 0; r < R; ++r) acc[r][j][c] = FloatVec::fmadd(wv[r], xv, acc[r][j][c]);
    }
  };
  int64_t i = 0;
  for (; i + kChains * kL <= n; i += kChains * kL) {
    for (int c = 0; c < kChains; ++c) step(i + c * kL, c);
  }
  // At most kChains - 1 whole vectors are left (a constant chain each, so the accumulators
  // stay in registers).
#pragma GCC unroll 8
  for (int c = 0; c + 1 < kChains; ++c) {
    if (i + kL <= n) {
      step(i, c);
      i += kL;
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < NX; ++j) {
      float sum = 0.0f;
      for (int c = 0; c < kChains; ++c) sum += FloatVec::sum(acc[r][j][c]);
      for (int64_t t = i; t < n; ++t) sum += W::at(wrow(r), t) * xrow(j)[t];
      y[j * y_stride + r] = sum;
    }
  }
}

#if defined(__AVX512F__)
#pragma GCC push_options
#pragma GCC target("avx512bf16")
// float_tile for BF16 weights on a CPU with AVX512_BF16 (chosen at run time: the level does
// not require it): the activations rounded to BF16 (round to nearest even, as llama.cpp
// takes them for BF16 weights) and vdpbf16ps summing 32 products per instruction where
// the float tile's multiply-adds sum 16, each pair's 16 lanes in one order whatever the
// tile's shape. The last n % 32 values in scalar, on the same rounded activations.
template <int R, int NX>
void bf16_dot_tile(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride,
                   float* y, int64_t y_stride) {
  constexpr int64_t kPairs = 32;
  __m512 acc[R][NX];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < NX; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  auto wrow = [&](int r) { return offset_bytes(w, r, w_stride); };
  auto xrow = [&](int j) { return reinterpret_cast<const float*>(offset_bytes(x, j, x_stride)); };
  int64_t i = 0;
  for (; i + kPairs <= n; i += kPairs) {
    __m512bh wv[R];
    for (int r = 0; r < R; ++r)
      wv[r] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(wrow(r) + 2 * i));
    for (int j = 0; j < NX; ++j) {
      const float* xj = xrow(j) + i;
      const __m512bh xv = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xj + 16), _mm512_loadu_ps(xj));
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], wv[r], xv);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < NX; ++j) {
      float sum = FloatVec::sum(acc[r][j]);
      for (int64_t t = i; t < n; ++t)
        sum += BF16::at(wrow(r), t) * bf16_to_f32(f32_to_bf16(xrow(j)[t]));
      y[j * y_stride + r] = sum;
    }
  }
}
#pragma GCC pop_options
#endif

#if defined(__AVX512F__)
constexpr cpu::Isa kLevel = cpu::Isa::Avx512;
#else
constexpr cpu::Isa kLevel = cpu::Isa::Avx2;
#endif

// Whether W's kernels take the activations rounded to BF16 (bf16_dot_tile), as the type
// table says (rounds_activations_to_bf16).
template <typename W>
bool rounds_to_bf16() {
  if constexpr (std::is_same_v<W, BF16>) {
    static const bool kRounds = cpu::rounds_activations_to_bf16(TensorType::BF16, kLevel);
    return kRounds;
  }
  return false;
}

// R x NX float tile of W's weights, through bf16_dot_tile where the CPU has it for BF16.
template <typename W, int R, int NX>
void weight_tile(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride,
                 float* y, int64_t y_stride) {
#if defined(__AVX512F__)
  if (rounds_to_bf16<W>()) return bf16_dot_tile<R, NX>(n, w, w_stride, x, x_stride, y, y_stride);
#endif
  float_tile<W, R, NX>(n, w, w_stride, x, x_stride, y, y_stride);
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
      weight_tile<W, 1, NX>(n, w, 0, x, s, out, 1);
    }
  };
  // Decoding: row after row, one stream through the matrix (rows are contiguous), two
  // accumulator chains per row (BF16 rounding its activations: the tile's one, vdpbf16ps).
  // One 8-wide chain held AVX2 to a multiply-add's latency per 8 values (bench_kernels
  // decode_rows/F16/avx2/384/1, from L2: 24.8 us against 12.5 with two; at AVX512 11.7
  // against 6.9; from DRAM on both threads alike). Several rows per pass (several streams)
  // and software prefetch 2-8 KiB ahead were slower (a 1B F16 shape from DRAM on 2 threads,
  // Zen 4, in-process A/B: 29-40 GB/s against 24-29 and 22-34).
  static void rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,
                   float* y) {
    if (rounds_to_bf16<W>()) return rows_singly<Rows>(n, w, w_stride, n_w, x, y);
    for (int64_t r = 0; r < n_w; ++r) {
      float_tile<W, 1, 1, 2>(n, offset_bytes(w, r, w_stride), 0, x, 0, y + r, 0);
    }
  }
  static void tiles(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride,
                    int n_x, float* y, int64_t y_stride) {
    in_groups<kMaxRows>(n_x, [&]<int NX>(int64_t t) {
      weight_tile<W, kFloatTileRows, NX>(n, w, w_stride, offset_bytes(x, t, x_stride), x_stride,
                                         y + t * y_stride, y_stride);
    });
  }
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

// The types with a prompt tile: the float types (Float<W>) and the legacy ones (Legacy<W>).
#define TERN_TILED(type, K)                                                                        \
  void dot_##type(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    by_rows<K::template Rows>(n, w, x, x_stride, n_x, out);                                        \
  }                                                                                                \
  void dot_##type##_rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,    \
                         float* y) {                                                               \
    K::rows(n, w, w_stride, n_w, x, y);                                                            \
  }                                                                                                \
  void dot_tile_##type(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride,  \
                       int n_x, float* y, int64_t y_stride) {                                      \
    K::tiles(n, w, w_stride, x, x_stride, n_x, y, y_stride);                                       \
  }
TERN_TILED(f32, Float<F32>)
TERN_TILED(f16, Float<F16>)
TERN_TILED(bf16, Float<BF16>)
TERN_TILED(q4_0, Legacy<Q4_0>)
TERN_TILED(q4_1, Legacy<Q4_1>)
TERN_TILED(q5_0, Legacy<Q5_0>)
TERN_TILED(q5_1, Legacy<Q5_1>)
TERN_TILED(q8_0, Legacy<Q8_0>)
TERN_TILED(iq4_nl, Legacy<IQ4_NL>)
TERN_TILED(mxfp4, Legacy<MXFP4>)
#undef TERN_TILED

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
