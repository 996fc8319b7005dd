// x86 SIMD kernels of the K-quants and IQ4_XS (super-blocks of 256 against Q8_K): one
// weight row against up to 4 activation rows (dot) and, for Q4_K/Q5_K/Q6_K, the 4-row decode
// kernel (dot_rows). Expanded per level inside TERN_SIMD_NAMESPACE (see x86/row_kernels.h).
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/row_kernels_kquant.h"
#endif
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/cpu/x86/simd_helpers.h"
#include "types/blocks.h"
#include "types/quant_iq.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

// ---- K-quants and IQ4_XS: super-blocks of 256 against Q8_K ----

// Per super-block: the integer sum of q * x * sub-scale (8 int32 lanes) for each activation
// row; the caller scales it by d * x.d and adds the offset/minimum term from bsums.
template <int NX>
struct SuperSums {
  __m256i v[NX];
  SuperSums() {
    for (int j = 0; j < NX; ++j) v[j] = _mm256_setzero_si256();
  }
  // Adds chunk c (values 32c..32c+31, unsigned q) with per-16 scales.
  void add(const void* x, size_t stride, int64_t i, int c, __m256i q, __m256i scales16) {
    for (int j = 0; j < NX; ++j) {
      __m256i xq = load256(act<BlockQ8_K>(x, stride, j, i).qs + 32 * c);
      v[j] = _mm256_add_epi32(v[j], scaled_dot(q, xq, scales16));
    }
  }
};

// Sub-scales decoded in registers (never through a byte array on the stack: a scalar store
// reloaded as a vector stalls on store forwarding). Per-16 scales: 16 signed bytes.
struct Scales16 {
  __m256i lo, hi;  // int16 scales of groups 0-7 (lo) or 8-15 (hi), in both 128-bit lanes
  explicit Scales16(__m128i bytes) {
    __m256i s = _mm256_cvtepi8_epi16(bytes);
    lo = _mm256_permute2x128_si256(s, s, 0x00);
    hi = _mm256_permute2x128_si256(s, s, 0x11);
  }
  // Chunk c (values 32c..32c+31): lanes 0-7 group 2c's scale, lanes 8-15 group 2c+1's.
  __m256i chunk(int c) const {
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,  //
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    __m256i idx = _mm256_add_epi8(pick, _mm256_set1_epi8(static_cast<char>(4 * (c & 3))));
    return _mm256_shuffle_epi8(c < 4 ? lo : hi, idx);
  }
};

// Per-32 scales (Q4_K, Q5_K): 8 int16 in both 128-bit lanes.
struct Scales32 {
  __m256i s;
  explicit Scales32(__m128i scales16) : s(_mm256_broadcastsi128_si256(scales16)) {}
  // Chunk c's scale in every lane.
  __m256i chunk(int c) const {
    __m256i idx =
        _mm256_add_epi8(_mm256_set1_epi16(0x0100), _mm256_set1_epi8(static_cast<char>(2 * c)));
    return _mm256_shuffle_epi8(s, idx);
  }
};

// sum over 16-value groups g of scale[g] * bsums[g] for one Q8_K block; scales: 16 int8.
int group_sum(__m128i scales, const BlockQ8_K& a) {
  return hsum_i32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(scales), load256(a.bsums)));
}

// Finishes one super-block: acc += d * x.d * sums + per-row offset terms (already summed).
template <int NX>
void finish_super(const SuperSums<NX>& sums, const void* x, size_t stride, int64_t i, float d,
                  __m256* acc) {
  for (int j = 0; j < NX; ++j) {
    float dx = d * act<BlockQ8_K>(x, stride, j, i).d;
    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums.v[j]), _mm256_set1_ps(dx), acc[j]);
  }
}

template <int NX>
void store_rows(const __m256* acc, const float* extra, float* out) {
  for (int j = 0; j < NX; ++j) out[j] = hsum(acc[j]) + extra[j];
}

// Q2_K: x = d * sc * q - dmin * m per 16 values, q = 2 bits.
template <int NX>
void q2_k_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  const auto* wb = static_cast<const BlockQ2_K*>(w);
  __m256 acc[NX];
  float extra[NX] = {};
  for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
  const __m256i three = _mm256_set1_epi8(3);
  const __m128i nibble = _mm_set1_epi8(0x0f);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockQ2_K& b = wb[i];
    if constexpr (NX == 1) prefetch_next_row(wb, n / kSuperBlock, i);
    __m128i packed = load128(b.scales);  // per 16 values: scale | min << 4
    Scales16 sc(_mm_and_si128(packed, nibble));
    __m128i mn = _mm_and_si128(_mm_srli_epi16(packed, 4), nibble);
    SuperSums<NX> sums;
    for (int h = 0; h < 2; ++h) {
      __m256i qs = load256(b.qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        int c = 4 * h + k;
        __m256i q = _mm256_and_si256(_mm256_srl_epi16(qs, _mm_cvtsi32_si128(2 * k)), three);
        sums.add(x, stride, i, c, q, sc.chunk(c));
      }
    }
    finish_super(sums, x, stride, i, f16(b.d), acc);
    for (int j = 0; j < NX; ++j) {
      const BlockQ8_K& a = act<BlockQ8_K>(x, stride, j, i);
      extra[j] -= f16(b.dmin) * a.d * static_cast<float>(group_sum(mn, a));
    }
  }
  store_rows<NX>(acc, extra, out);
}

// Q3_K's 16 signed 6-bit scales from 12 bytes (words a, b: low nibbles; c: high 2 bits):
// groups 0-3 low nibbles of a, 4-7 of b, 8-11 high nibbles of a, 12-15 of b; the high
// bits of group 4t + k are bits 2t..2t+1 of byte k of c.
__m128i q3_k_scales(const uint8_t* p) {
  uint32_t a = load_u32(p), b = load_u32(p + 4), c = load_u32(p + 8);
  const uint32_t low = 0x0f0f0f0f, high = 0x30303030;
  __m128i s = _mm_setr_epi32(static_cast<int>((a & low) | ((c << 4) & high)),
                             static_cast<int>((b & low) | ((c << 2) & high)),
                             static_cast<int>(((a >> 4) & low) | (c & high)),
                             static_cast<int>(((b >> 4) & low) | ((c >> 2) & high)));
  return _mm_sub_epi8(s, _mm_set1_epi8(32));
}

// Q3_K: x = d * sc * (q - 4 * !hbit), q = 2 bits; scales signed 6-bit.
template <int NX>
void q3_k_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  const auto* wb = static_cast<const BlockQ3_K*>(w);
  __m256 acc[NX];
  float extra[NX] = {};
  for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
  const __m256i three = _mm256_set1_epi8(3);
  const __m256i one = _mm256_set1_epi8(1);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockQ3_K& b = wb[i];
    if constexpr (NX == 1) prefetch_next_row(wb, n / kSuperBlock, i);
    __m128i scales = q3_k_scales(b.scales);
    Scales16 sc(scales);
    // u = q + 4 * hbit in 0..7, so x = d * sc * (u - 4).
    __m256i hm = load256(b.hmask);
    SuperSums<NX> sums;
    for (int h = 0; h < 2; ++h) {
      __m256i qs = load256(b.qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        int c = 4 * h + k;
        __m256i q = _mm256_and_si256(_mm256_srl_epi16(qs, _mm_cvtsi32_si128(2 * k)), three);
        __m256i hb = _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(c)), one);
        q = _mm256_or_si256(q, _mm256_slli_epi16(hb, 2));
        sums.add(x, stride, i, c, q, sc.chunk(c));
      }
    }
    float d = f16(b.d);
    finish_super(sums, x, stride, i, d, acc);
    for (int j = 0; j < NX; ++j) {
      const BlockQ8_K& a = act<BlockQ8_K>(x, stride, j, i);
      extra[j] -= 4.0f * d * a.d * static_cast<float>(group_sum(scales, a));
    }
  }
  store_rows<NX>(acc, extra, out);
}

// Q4_K/Q5_K's 8 (scale, min) pairs of 6 bits in 12 bytes (words a, b, c): scales 0-3 are
// the low 6 bits of a's bytes, mins 0-3 of b's; scales 4-7 are c's low nibbles with a's top
// 2 bits above them, mins 4-7 c's high nibbles with b's top bits. Returns 8 int16 scales
// and 8 int16 mins.
struct K4Scales {
  __m128i scales, mins;
};
K4Scales k4_scales(const uint8_t* p) {
  uint32_t a = load_u32(p), b = load_u32(p + 4), c = load_u32(p + 8);
  const uint32_t six = 0x3f3f3f3f, low = 0x0f0f0f0f, top = 0x30303030;
  uint64_t sc = (a & six) | uint64_t{(c & low) | ((a >> 2) & top)} << 32;
  uint64_t mn = (b & six) | uint64_t{((c >> 4) & low) | ((b >> 2) & top)} << 32;
  return {_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(sc))),
          _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(mn)))};
}

// A K-quant's super-block as kernels see it: Super::sums adds q * x * sub-scale of block b
// against NX activation rows (super-block i of each) to sums and sets offset[j] to 4 int32
// whose total, times min_scale(b) * x.d, is the offset/minimum term; the whole term per
// activation row j is d(b) * x_j.d * sums.v[j] + min_scale(b) * x_j.d * total(offset[j]).
//
// Q4_K (kHigh = false) and Q5_K (true): x = d * sc * q - dmin * m per 32 values.
template <typename Block, bool kHigh>
struct Q45K {
  using BlockType = Block;
  static float d(const Block& b) { return f16(b.d); }
  static float min_scale(const Block& b) { return -f16(b.dmin); }
  template <int NX>
  static void sums(const Block& b, const void* x, size_t stride, int64_t i, SuperSums<NX>& sums,
                   __m128i* offset) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i one = _mm256_set1_epi8(1);
    K4Scales k4 = k4_scales(b.scales);
    Scales32 sc(k4.scales);
    for (int c2 = 0; c2 < 4; ++c2) {  // 64 values: low nibbles, then high nibbles
      __m256i qs = load256(b.qs + 32 * c2);
      __m256i q_lo = _mm256_and_si256(qs, low);
      __m256i q_hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), low);
      if constexpr (kHigh) {
        __m256i qh = load256(b.qh);
        __m256i h_lo = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c2)), one);
        __m256i h_hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c2 + 1)), one);
        q_lo = _mm256_or_si256(q_lo, _mm256_slli_epi16(h_lo, 4));
        q_hi = _mm256_or_si256(q_hi, _mm256_slli_epi16(h_hi, 4));
      }
      sums.add(x, stride, i, 2 * c2, q_lo, sc.chunk(2 * c2));
      sums.add(x, stride, i, 2 * c2 + 1, q_hi, sc.chunk(2 * c2 + 1));
    }
    for (int j = 0; j < NX; ++j) {
      const BlockQ8_K& a = act<BlockQ8_K>(x, stride, j, i);
      __m128i pairs = _mm_hadd_epi16(load128(a.bsums), load128(a.bsums + 8));  // |sum| <= 4064
      offset[j] = _mm_madd_epi16(k4.mins, pairs);
    }
  }
};

using Q4K = Q45K<BlockQ4_K, false>;
using Q5K = Q45K<BlockQ5_K, true>;

// Q6_K: x = d * sc * (q - 32) per 16 values, q = 4 low bits (ql) + 2 high bits (qh).
struct Q6K {
  using BlockType = BlockQ6_K;
  static float d(const BlockQ6_K& b) { return f16(b.d); }
  static float min_scale(const BlockQ6_K& b) { return -32.0f * f16(b.d); }
  template <int NX>
  static void sums(const BlockQ6_K& b, const void* x, size_t stride, int64_t i, SuperSums<NX>& sums,
                   __m128i* offset) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    __m128i scales = load128(b.scales);
    Scales16 sc(scales);
    for (int h = 0; h < 2; ++h) {
      __m256i ql0 = load256(b.ql + 64 * h);
      __m256i ql1 = load256(b.ql + 64 * h + 32);
      __m256i qh = load256(b.qh + 32 * h);
      __m256i lows[4] = {_mm256_and_si256(ql0, low), _mm256_and_si256(ql1, low),
                         _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low),
                         _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low)};
      // Bits 2k..2k+1 of each qh byte moved to bits 4-5 (16-bit shifts: bits crossing
      // into the neighbouring byte fall outside the mask).
      __m256i highs[4] = {_mm256_slli_epi16(qh, 4), _mm256_slli_epi16(qh, 2), qh,
                          _mm256_srli_epi16(qh, 2)};
      for (int k = 0; k < 4; ++k) {
        int c = 4 * h + k;
        __m256i q = _mm256_or_si256(lows[k], _mm256_and_si256(highs[k], bits45));
        sums.add(x, stride, i, c, q, sc.chunk(c));
      }
    }
    __m256i scales16 = _mm256_cvtepi8_epi16(scales);
    for (int j = 0; j < NX; ++j) {
      __m256i g = _mm256_madd_epi16(scales16, load256(act<BlockQ8_K>(x, stride, j, i).bsums));
      offset[j] = _mm_add_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
    }
  }
};

// One weight row of a K-quant against NX activation rows (DotFn).
template <typename K, int NX>
void k_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  const auto* wb = static_cast<const typename K::BlockType*>(w);
  __m256 acc[NX];
  float extra[NX] = {};
  for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    SuperSums<NX> sums;
    __m128i offset[NX];
    K::sums(wb[i], x, stride, i, sums, offset);
    finish_super(sums, x, stride, i, K::d(wb[i]), acc);
    for (int j = 0; j < NX; ++j) {
      extra[j] += K::min_scale(wb[i]) * act<BlockQ8_K>(x, stride, j, i).d *
                  static_cast<float>(hsum_i32(offset[j]));
    }
  }
  store_rows<NX>(acc, extra, out);
}

// R <= 4 weight rows (w_stride bytes apart) of a K-quant against one activation row (decode):
// y[r] = w_r . x. Per super-block the rows' integer sums are folded into one vector (hadd)
// and scaled once, and the offset terms likewise. Rows past R repeat row R - 1.
template <typename K>
void k_decode4(int64_t n, const void* w, size_t w_stride, int R, const void* x, float* y) {
  using Block = typename K::BlockType;
  const Block* wb[4];
  for (int r = 0; r < 4; ++r) {
    wb[r] = reinterpret_cast<const Block*>(offset_bytes(w, std::min(r, R - 1), w_stride));
  }
  const uint8_t* next = offset_bytes(w, 4, w_stride);  // the next pass's rows, contiguous
  const auto* xb = static_cast<const BlockQ8_K*>(x);
  __m256 acc = _mm256_setzero_ps();  // lanes [r0..r3 | r0..r3]
  __m128 offset_acc = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    prefetch<4 * sizeof(Block)>(next + 4 * i * sizeof(Block));
    __m256i v[4];
    __m128i offset[4];
#pragma GCC unroll 1  // row after row: four rows' chunks interleaved spill to the stack
    for (int r = 0; r < 4; ++r) {
      SuperSums<1> sums;
      K::sums(wb[r][i], x, 0, i, sums, &offset[r]);
      v[r] = sums.v[0];
    }
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    __m128i o =
        _mm_hadd_epi32(_mm_hadd_epi32(offset[0], offset[1]), _mm_hadd_epi32(offset[2], offset[3]));
    __m128 dx = _mm_set1_ps(xb[i].d);
    __m128 d =
        _mm_mul_ps(_mm_setr_ps(K::d(wb[0][i]), K::d(wb[1][i]), K::d(wb[2][i]), K::d(wb[3][i])), dx);
    __m128 m = _mm_mul_ps(_mm_setr_ps(K::min_scale(wb[0][i]), K::min_scale(wb[1][i]),
                                      K::min_scale(wb[2][i]), K::min_scale(wb[3][i])),
                          dx);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set_m128(d, d), acc);
    offset_acc = _mm_fmadd_ps(_mm_cvtepi32_ps(o), m, offset_acc);
  }
  __m128 total = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)),
                            offset_acc);
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, total);
  for (int r = 0; r < R; ++r) y[r] = lanes[r];
}

// IQ4_XS: x = d * (ls - 32) * kIq4nlValues[nibble] per 32 values.
template <int NX>
void iq4_xs_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  const auto* wb = static_cast<const BlockIQ4_XS*>(w);
  __m256 acc[NX];
  float extra[NX] = {};
  for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
  const __m256i table =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockIQ4_XS& b = wb[i];
    if constexpr (NX == 1) prefetch_next_row(wb, n / kSuperBlock, i);
    SuperSums<NX> sums;
    for (int c = 0; c < 8; ++c) {
      int ls = ((b.scales_l[c / 2] >> (4 * (c % 2))) & 0x0f) | (((b.scales_h >> (2 * c)) & 3) << 4);
      __m256i q = _mm256_shuffle_epi8(table, nibbles_32(b.qs + 16 * c));
      // Signed values: move q's sign onto x so maddubs sees |q| (unsigned).
      __m256i scales16 = _mm256_set1_epi16(static_cast<int16_t>(ls - 32));
      for (int j = 0; j < NX; ++j) {
        __m256i xq = load256(act<BlockQ8_K>(x, stride, j, i).qs + 32 * c);
        __m256i p = scaled_dot(_mm256_sign_epi8(q, q), _mm256_sign_epi8(xq, q), scales16);
        sums.v[j] = _mm256_add_epi32(sums.v[j], p);
      }
    }
    finish_super(sums, x, stride, i, f16(b.d), acc);
  }
  store_rows<NX>(acc, extra, out);
}

// A K-quant with a super-block view (Q45K, Q6K) as DotFn (k_rows) and DotRowsFn (k_decode4).
template <typename K>
struct KQuant {
  template <int NX>
  struct Rows {
    static void run(int64_t n, const void* w, const void* x, size_t s, float* out) {
      k_rows<K, NX>(n, w, x, s, out);
    }
  };
  static void rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,
                   float* y) {
    for (int64_t r = 0; r < n_w; r += 4) {
      int rows_here = static_cast<int>(std::min<int64_t>(4, n_w - r));
      k_decode4<K>(n, offset_bytes(w, r, w_stride), w_stride, rows_here, x, y + r);
    }
  }
};

}  // namespace

}  // namespace tern::TERN_SIMD_NAMESPACE
