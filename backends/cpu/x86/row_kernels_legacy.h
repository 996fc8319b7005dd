// x86 SIMD kernels of the legacy types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, MXFP4: blocks of 32
// against Q8_0/Q8_1): the row x token tile (dot, dot_tile) and the 4-row decode kernel
// (dot_rows). Expanded per level inside TERN_SIMD_NAMESPACE (see x86/row_kernels.h).
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/row_kernels_legacy.h"
#endif
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backends/cpu/x86/simd_helpers.h"
#include "types/blocks.h"
#include "types/quant_iq.h"
#include "types/quant_mxfp4.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

// ---- legacy types: blocks of 32 against Q8_0 (or Q8_1 where the weight has a minimum) ----

// Each type unpacks a block to 32 bytes q and says how x = d * f(q) (+ m) reads them:
// kSigned: q are signed bytes; otherwise q are unsigned and x = d * (q - kOffset) (+ m where
// kMin). The offset is applied as kOffset * sum(x) per activation block, computed once and
// shared by every weight row of a tile (cheaper than moving signs per product).
// Two blocks b, c for the decode tile (legacy_decode4): lo = [b's values 0-15 | c's 0-15],
// hi = [b's 16-31 | c's 16-31], so that every 128-bit lane holds one block.
struct BlockPair {
  __m256i lo, hi;
};

BlockPair nibbles_pair(const uint8_t* b, const uint8_t* c) {
  __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(b)), load128(c), 1);
  const __m256i low = _mm256_set1_epi8(0x0f);
  return {_mm256_and_si256(v, low), _mm256_and_si256(_mm256_srli_epi16(v, 4), low)};
}

// Q5_0/Q5_1: the nibbles with bit 4 from qh (bit i for value i).
template <typename Block>
__m256i five_bits(const Block& b) {
  __m256i high = _mm256_and_si256(expand_bits(load_u32(b.qh)), _mm256_set1_epi8(0x10));
  return _mm256_or_si256(nibbles_32(b.qs), high);
}
template <typename Block>
BlockPair five_bits_pair(const Block& b, const Block& c) {
  uint32_t hb = load_u32(b.qh), hc = load_u32(c.qh);
  BlockPair p = nibbles_pair(b.qs, c.qs);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  __m256i lo = _mm256_and_si256(expand_bits((hb & 0xffff) | hc << 16), bit4);
  __m256i hi = _mm256_and_si256(expand_bits(hb >> 16 | (hc & 0xffff0000)), bit4);
  return {_mm256_or_si256(p.lo, lo), _mm256_or_si256(p.hi, hi)};
}

// R fp16 values (R <= 4), one per weight row, converted at once: lane r = rows[r][i].*field.
// Each is inserted straight from memory (one instruction per row, not load + shift + or).
template <int R, typename Block>
__m128 row_halves(const Block* const* rows, int64_t i, uint16_t Block::*field) {
  static_assert(R >= 1 && R <= 4);
  __m128i h = _mm_cvtsi32_si128(rows[0][i].*field);
  if constexpr (R > 1) h = _mm_insert_epi16(h, rows[1][i].*field, 1);
  if constexpr (R > 2) h = _mm_insert_epi16(h, rows[2][i].*field, 2);
  if constexpr (R > 3) h = _mm_insert_epi16(h, rows[3][i].*field, 3);
  return _mm_cvtph_ps(h);
}

// The fp16 `field` of blocks i0 and i1 of 4 rows, lanes [rows at i0 | rows at i1], each
// inserted straight from memory.
template <typename Block>
__m256 row_halves8(const Block* const* rows, int64_t i0, int64_t i1, uint16_t Block::*field) {
  __m128i h = _mm_cvtsi32_si128(rows[0][i0].*field);
  h = _mm_insert_epi16(h, rows[1][i0].*field, 1);
  h = _mm_insert_epi16(h, rows[2][i0].*field, 2);
  h = _mm_insert_epi16(h, rows[3][i0].*field, 3);
  h = _mm_insert_epi16(h, rows[0][i1].*field, 4);
  h = _mm_insert_epi16(h, rows[1][i1].*field, 5);
  h = _mm_insert_epi16(h, rows[2][i1].*field, 6);
  h = _mm_insert_epi16(h, rows[3][i1].*field, 7);
  return _mm256_cvtph_ps(h);
}

// The scales of R <= 4 weight rows' blocks i (scales) and of blocks i0, i1 of 4 rows, lanes
// [rows at i0 | rows at i1] (scales8): an fp16 `d` per block for all but MXFP4.
template <typename B>
struct HalfScale {
  template <int R>
  static __m128 scales(const B* const* rows, int64_t i) {
    return row_halves<R>(rows, i, &B::d);
  }
  static __m256 scales8(const B* const* rows, int64_t i0, int64_t i1) {
    return row_halves8(rows, i0, i1, &B::d);
  }
};

// Signed values looked up by 4-bit index in a 16-entry table (IQ4_NL, MXFP4).
template <typename B, const int8_t (&kValues)[16]>
struct TableNibbles {
  using Block = B;
  using Act = BlockQ8_0;
  static constexpr bool kSigned = true;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = false;
  static __m256i table() { return _mm256_broadcastsi128_si256(load128(kValues)); }
  static __m256i unpack(const Block& b) { return _mm256_shuffle_epi8(table(), nibbles_32(b.qs)); }
  static BlockPair unpack2(const Block& b, const Block& c) {
    BlockPair p = nibbles_pair(b.qs, c.qs);
    return {_mm256_shuffle_epi8(table(), p.lo), _mm256_shuffle_epi8(table(), p.hi)};
  }
};

// e8m0_half of 4 or 8 exponents at once: 2^(e - 128) is (e - 1) << 23 as float bits for
// e >= 2, the subnormal 0x00200000 << e below.
inline __m128 e8m0_half4(__m128i e) {
  __m128i normal = _mm_slli_epi32(_mm_sub_epi32(e, _mm_set1_epi32(1)), 23);
  __m128i tiny = _mm_sllv_epi32(_mm_set1_epi32(0x00200000), e);
  return _mm_castsi128_ps(_mm_blendv_epi8(tiny, normal, _mm_cmpgt_epi32(e, _mm_set1_epi32(1))));
}
inline __m256 e8m0_half8(__m256i e) {
  __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
  __m256i tiny = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
  return _mm256_castsi256_ps(
      _mm256_blendv_epi8(tiny, normal, _mm256_cmpgt_epi32(e, _mm256_set1_epi32(1))));
}

struct Q4_0 : HalfScale<BlockQ4_0> {
  using Block = BlockQ4_0;
  using Act = BlockQ8_0;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 8;
  static constexpr bool kMin = false;
  static __m256i unpack(const Block& b) { return nibbles_32(b.qs); }
  static BlockPair unpack2(const Block& b, const Block& c) { return nibbles_pair(b.qs, c.qs); }
};
struct Q4_1 : HalfScale<BlockQ4_1> {
  using Block = BlockQ4_1;
  using Act = BlockQ8_1;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static __m256i unpack(const Block& b) { return nibbles_32(b.qs); }
  static BlockPair unpack2(const Block& b, const Block& c) { return nibbles_pair(b.qs, c.qs); }
};
struct Q5_0 : HalfScale<BlockQ5_0> {
  using Block = BlockQ5_0;
  using Act = BlockQ8_0;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 16;
  static constexpr bool kMin = false;
  static __m256i unpack(const Block& b) { return five_bits(b); }
  static BlockPair unpack2(const Block& b, const Block& c) { return five_bits_pair(b, c); }
};
struct Q5_1 : HalfScale<BlockQ5_1> {
  using Block = BlockQ5_1;
  using Act = BlockQ8_1;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static __m256i unpack(const Block& b) { return five_bits(b); }
  static BlockPair unpack2(const Block& b, const Block& c) { return five_bits_pair(b, c); }
};
struct Q8_0 : HalfScale<BlockQ8_0> {
  using Block = BlockQ8_0;
  using Act = BlockQ8_0;
  static constexpr bool kSigned = true;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = false;
  static __m256i unpack(const Block& b) { return load256(b.qs); }
  static BlockPair unpack2(const Block& b, const Block& c) {
    return {
        _mm256_inserti128_si256(_mm256_castsi128_si256(load128(b.qs)), load128(c.qs), 1),
        _mm256_inserti128_si256(_mm256_castsi128_si256(load128(b.qs + 16)), load128(c.qs + 16), 1)};
  }
};
struct IQ4_NL : TableNibbles<BlockIQ4_NL, kIq4nlValues>, HalfScale<BlockIQ4_NL> {};
// MXFP4: E2M1 values (doubled) scaled by a power of two, E8M0 (halved to match).
struct MXFP4 : TableNibbles<BlockMXFP4, kE2m1Doubled> {
  template <int R>
  static __m128 scales(const Block* const* rows, int64_t i) {
    static_assert(R >= 1 && R <= 4);
    return e8m0_half4(_mm_setr_epi32(rows[0][i].e, rows[std::min(1, R - 1)][i].e,
                                     rows[std::min(2, R - 1)][i].e, rows[std::min(3, R - 1)][i].e));
  }
  static __m256 scales8(const Block* const* rows, int64_t i0, int64_t i1) {
    return e8m0_half8(_mm256_setr_epi32(rows[0][i0].e, rows[1][i0].e, rows[2][i0].e, rows[3][i0].e,
                                        rows[0][i1].e, rows[1][i1].e, rows[2][i1].e,
                                        rows[3][i1].e));
  }
};

// R weight rows (w_stride bytes apart) x NX activation rows: y[j * y_stride + r] = w_r . x_j.
// Each activation block (quants, scale, offset sum) is loaded once for all R rows and each
// weight block unpacked once for all NX; the R x NX float accumulators are independent
// chains, which hides FMA latency (R x NX <= 8 keeps them in AVX2's 16 registers). Shapes:
// R = 2, NX <= 4 is the prompt tile (dot_tile); R = 1 the single-row dot. One token decodes
// with legacy_decode4 below.
template <typename W, int R, int NX>
void legacy_tile(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride,
                 float* y, int64_t y_stride) {
  using Act = typename W::Act;
  using Block = typename W::Block;
  const Block* wb[R];
  for (int r = 0; r < R; ++r) {
    wb[r] = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + w_stride * r);
  }
  __m256 acc[R][NX];
  __m128 min_acc[NX];  // lanes r: sum of m_r * s_j (types with a minimum)
  for (int j = 0; j < NX; ++j) {
    min_acc[j] = _mm_setzero_ps();
    for (int r = 0; r < R; ++r) acc[r][j] = _mm256_setzero_ps();
  }
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    __m256i q[R];
    __m256i q_abs[R];  // signed weights: |q|, with q's signs moved onto x per product
    for (int r = 0; r < R; ++r) {
      q[r] = W::unpack(wb[r][i]);
      q_abs[r] = W::kSigned ? _mm256_sign_epi8(q[r], q[r]) : q[r];
    }
    __m128 d = W::template scales<R>(wb, i);
    for (int j = 0; j < NX; ++j) {
      const Act& a = act<Act>(x, x_stride, j, i);
      __m256i xq = load256(a.qs);
      // scales[r] = d_r * d_x, broadcast per row from memory (a register per row would spill).
      alignas(16) float scales[4];
      _mm_store_ps(scales, _mm_mul_ps(d, _mm_set1_ps(f16(a.d))));
      __m256i offset = _mm256_setzero_si256();  // kOffset * x summed per 4 bytes
      if constexpr (W::kOffset != 0) {
        offset = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(W::kOffset), xq), ones16);
      }
      for (int r = 0; r < R; ++r) {
        __m256i p = dot_u8_i8(q_abs[r], W::kSigned ? _mm256_sign_epi8(xq, q[r]) : xq);
        if constexpr (W::kOffset != 0) p = _mm256_sub_epi32(p, offset);
        acc[r][j] =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(scales + r), acc[r][j]);
      }
      if constexpr (W::kMin) {
        __m128 m = row_halves<R>(wb, i, &Block::m);
        min_acc[j] = _mm_fmadd_ps(m, _mm_set1_ps(f16(a.s)), min_acc[j]);
      }
    }
  }
  for (int j = 0; j < NX; ++j) {
    alignas(16) float mins[4];
    _mm_store_ps(mins, min_acc[j]);
    for (int r = 0; r < R; ++r) y[j * y_stride + r] = hsum(acc[r][j]) + mins[r];
  }
}

// ---- legacy decode: one token against 4 weight rows, their sums in one vector ----

// What every 4-row pass of one dot_rows call shares, per two activation blocks b, c: their
// quants in the BlockPair layout (xlo, xhi) and, in lanes [b x4 | c x4], the scale d_x,
// kOffset * sum(x) and Q8_1's s = d * sum(x).
struct alignas(32) ActPair {
  int8_t xlo[32], xhi[32];
  float dx[8];
  int32_t offset[8];
  float s[8];
};

// The ActPairs of nb activation blocks; an odd last block is paired with a zero-scaled copy.
template <typename W>
void act_pairs(const typename W::Act* xb, int64_t nb, std::vector<ActPair>& pairs) {
  pairs.resize(static_cast<size_t>((nb + 1) / 2));
  for (int64_t i = 0; i < nb; i += 2) {
    ActPair& p = pairs[static_cast<size_t>(i / 2)];
    const typename W::Act* half[2] = {&xb[i], &xb[std::min(i + 1, nb - 1)]};
    for (int h = 0; h < 2; ++h) {
      const auto& a = *half[h];
      std::memcpy(p.xlo + 16 * h, a.qs, 16);
      std::memcpy(p.xhi + 16 * h, a.qs + 16, 16);
      int offset = 0;
      if constexpr (W::kOffset != 0) {
        offset = hsum_i32(dot_u8_i8(_mm256_set1_epi8(W::kOffset), load256(a.qs)));
      }
      bool phantom = i + h >= nb;
      for (int k = 4 * h; k < 4 * h + 4; ++k) {
        p.dx[k] = phantom ? 0.0f : f16(a.d);
        p.offset[k] = offset;
        if constexpr (W::kMin) p.s[k] = phantom ? 0.0f : f16(a.s);
      }
    }
  }
}

// u0 . s0 + u1 . s1 (unsigned . signed bytes) summed per 4 bytes: 8 int32. kNarrow: every
// u <= 31, so two maddubs pair sums (<= 2 * 31 * 128 each) still add in int16.
template <bool kNarrow>
__m256i dot2_u8_i8(__m256i u0, __m256i s0, __m256i u1, __m256i s1) {
  if constexpr (kNarrow && !kVnniDot) {
    __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  }
  return add_dot_u8_i8(dot_u8_i8(u0, s0), u1, s1);
}

// Blocks i0, i1 of 4 rows against their activations: int32 lanes [r0..r3 at i0 | r0..r3 at
// i1], without the offset.
template <typename W>
__m256i pair_sums4(const typename W::Block* const* wb, int64_t i0, int64_t i1, const ActPair& a) {
  __m256i xlo = load256(a.xlo), xhi = load256(a.xhi);
  __m256i p[4];
  for (int r = 0; r < 4; ++r) {
    BlockPair q = W::unpack2(wb[r][i0], wb[r][i1]);
    if constexpr (W::kSigned) {  // |q| . (x with q's signs)
      p[r] = dot2_u8_i8<false>(_mm256_sign_epi8(q.lo, q.lo), _mm256_sign_epi8(xlo, q.lo),
                               _mm256_sign_epi8(q.hi, q.hi), _mm256_sign_epi8(xhi, q.hi));
    } else {
      p[r] = dot2_u8_i8<true>(q.lo, xlo, q.hi, xhi);
    }
  }
  return _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
}

// R <= 4 weight rows (w_stride bytes apart) of nb blocks against one activation row:
// y[r] = w_r . x. Per two blocks the 4 rows' integer sums are folded into one vector
// [rows at b | rows at b + 1], converted and scaled once (a row-per-vector tile spends a
// convert, a multiply-add and an offset per row and block). Rows past R repeat row R - 1.
template <typename W>
void legacy_decode4(int64_t nb, const void* w, size_t w_stride, int R, const ActPair* pairs,
                    float* y) {
  using Block = typename W::Block;
  const Block* wb[4];
  for (int r = 0; r < 4; ++r) {
    wb[r] = reinterpret_cast<const Block*>(offset_bytes(w, std::min(r, R - 1), w_stride));
  }
  const uint8_t* next = offset_bytes(w, 4, w_stride);  // the next pass's rows, contiguous
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; i += 2) {
    int64_t i1 = std::min(i + 1, nb - 1);
    prefetch<8 * sizeof(Block)>(next + 4 * i * sizeof(Block));
    const ActPair& p = pairs[i / 2];
    __m256i sums = pair_sums4<W>(wb, i, i1, p);
    if constexpr (W::kOffset != 0) {
      sums = _mm256_sub_epi32(sums, _mm256_load_si256(reinterpret_cast<const __m256i*>(p.offset)));
    }
    __m256 scales = _mm256_mul_ps(W::scales8(wb, i, i1), _mm256_load_ps(p.dx));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scales, acc);
    if constexpr (W::kMin) {
      acc = _mm256_fmadd_ps(row_halves8(wb, i, i1, &Block::m), _mm256_load_ps(p.s), acc);
    }
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (int r = 0; r < R; ++r) y[r] = lanes[r] + lanes[r + 4];
}

// The legacy tile as DotFn (1 weight row), DotTileFn (2 rows) and DotRowsFn (4 rows, 1 token).
template <typename W>
struct Legacy {
  template <int NX>
  struct Rows {
    static void run(int64_t n, const void* w, const void* x, size_t s, float* out) {
      legacy_tile<W, 1, NX>(n, w, 0, x, s, out, 1);
    }
  };
  static void tiles(int64_t n, const void* w, size_t w_stride, const void* x, size_t stride,
                    int n_x, float* y, int64_t y_stride) {
    in_groups<kMaxRows>(n_x, [&]<int NX>(int64_t t) {
      legacy_tile<W, 2, NX>(n, w, w_stride, offset_bytes(x, t, stride), stride, y + t * y_stride,
                            y_stride);
    });
  }
  static void rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,
                   float* y) {
    thread_local std::vector<ActPair> pairs;
    act_pairs<W>(static_cast<const typename W::Act*>(x), n / kBlock32, pairs);
    for (int64_t r = 0; r < n_w; r += 4) {
      int rows_here = static_cast<int>(std::min<int64_t>(4, n_w - r));
      legacy_decode4<W>(n / kBlock32, offset_bytes(w, r, w_stride), w_stride, rows_here,
                        pairs.data(), y + r);
    }
  }
};

}  // namespace

}  // namespace tern::TERN_SIMD_NAMESPACE
