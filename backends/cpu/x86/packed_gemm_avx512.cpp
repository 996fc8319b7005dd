// AVX512 packed GEMM kernels (backends/cpu/packed_gemm_kernels.h) over 16-row tiles: one 64-byte
// vector holds 4 values of 16 rows, so each activation broadcast (folded into the dot
// product as an embedded {1to16} operand) and each instruction serve twice the rows of
// the 256-bit body (x86/packed_gemm.h), with 32 registers for the accumulators.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backends/cpu/packed_gemm_kernels.h"

namespace tern::avx512 {

namespace {

using cpu::kPackBlock;
using cpu::kStepValues;
using cpu::kTileTokens;

constexpr int kRows = 2 * cpu::kTileRows;         // 16 rows: one int32 lane each
constexpr int kSteps = kPackBlock / kStepValues;  // 8 vectors per block
constexpr int kBlockBytes = kRows * kPackBlock;   // 512

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// int32 -> float, and int16 pairs (f, f) -> f as int32 (the high half, shifted down with
// sign). Zero-masked forms: GCC 12's plain intrinsics warn of their own undefined
// pass-through operand (-Wmaybe-uninitialized), which -Werror builds refuse.
inline __m512 to_float(__m512i v) { return _mm512_maskz_cvtepi32_ps(0xffff, v); }
inline __m512i high_halves(__m512i pairs) { return _mm512_maskz_srai_epi32(0xffff, pairs, 16); }

// acc + u (unsigned bytes) . (the 4 signed bytes at x in every lane), per 4 bytes: one
// vpdpbusd with an embedded broadcast. Written as asm: with the intrinsic GCC neither
// folded the broadcast nor kept the accumulator in place (it copied it every step).
inline void add_dot_broadcast(__m512i& acc, __m512i u, const int8_t* x) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u), "m"(*reinterpret_cast<const int32_t*>(x)));
}

// Block sums, integer, of the 16 rows against each of the 4 tokens: sum over the 8 steps
// of the byte products. Unsigned quants (Q4_*, Q5_*, Q4_K, Q5_K) go straight into vpdpbusd.
// Signed ones (Q8_0, IQ4_*) are biased to unsigned (q + 128) and the bias comes off as
// 128 * sum(x) per token afterwards: exact in int32, one subtraction per block instead of a
// sign transfer per step. Even and odd steps add into separate sums (vpdpbusd's latency).
// The sums are named variables, not arrays: arrays bound to the asm operands were stored
// to the stack after every block.
template <bool kSigned>
inline void direct_block(const int8_t* wq, const int8_t* xq, const int32_t* xsum, __m512i* out) {
  static_assert(kTileTokens == 4);
  __m512i e0 = _mm512_setzero_si512(), e1 = e0, e2 = e0, e3 = e0, o0 = e0, o1 = e0, o2 = e0, o3 = e0;
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  auto weights = [&](int step) {
    __m512i q = load512(wq + kRows * kStepValues * step);
    return kSigned ? _mm512_xor_si512(q, bias) : q;
  };
#pragma GCC unroll 4
  for (int step = 0; step < kSteps; step += 2) {
    __m512i q_even = weights(step), q_odd = weights(step + 1);
    const int8_t* x = xq + kStepValues * step;  // token t's values at x + 32 t
    add_dot_broadcast(e0, q_even, x);
    add_dot_broadcast(e1, q_even, x + kPackBlock);
    add_dot_broadcast(e2, q_even, x + 2 * kPackBlock);
    add_dot_broadcast(e3, q_even, x + 3 * kPackBlock);
    x += kStepValues;
    add_dot_broadcast(o0, q_odd, x);
    add_dot_broadcast(o1, q_odd, x + kPackBlock);
    add_dot_broadcast(o2, q_odd, x + 2 * kPackBlock);
    add_dot_broadcast(o3, q_odd, x + 3 * kPackBlock);
  }
  out[0] = _mm512_add_epi32(e0, o0);
  out[1] = _mm512_add_epi32(e1, o1);
  out[2] = _mm512_add_epi32(e2, o2);
  out[3] = _mm512_add_epi32(e3, o3);
  if constexpr (kSigned) {
    for (int t = 0; t < 4; ++t) {
      out[t] = _mm512_sub_epi32(out[t], _mm512_set1_epi32(128 * (xsum[2 * t] + xsum[2 * t + 1])));
    }
  }
}

// The same for signed quants with per-16-value sub-scales (Q6_K, Q3_K): biased like Q8_0,
// but each half (4 steps, one sub-scale's values) has its own sums, unbiased with that half's
// activation sum and multiplied by the rows' sub-scales in int32 (exact: at most
// 16 * 32 * 128 * 127 per half).
inline void sub_scaled_block(const int8_t* wq, const int8_t* xq, const int32_t* xsum, const int16_t* sub,
                             __m512i* out) {
  static_assert(kTileTokens == 4);
  __m512i l0 = _mm512_setzero_si512(), l1 = l0, l2 = l0, l3 = l0, h0 = l0, h1 = l0, h2 = l0, h3 = l0;
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  auto weights = [&](int step) { return _mm512_xor_si512(load512(wq + kRows * kStepValues * step), bias); };
#pragma GCC unroll 4
  for (int step = 0; step < kSteps / 2; ++step) {
    __m512i q_low = weights(step), q_high = weights(step + kSteps / 2);
    const int8_t* x = xq + kStepValues * step;  // token t's values at x + 32 t
    add_dot_broadcast(l0, q_low, x);
    add_dot_broadcast(l1, q_low, x + kPackBlock);
    add_dot_broadcast(l2, q_low, x + 2 * kPackBlock);
    add_dot_broadcast(l3, q_low, x + 3 * kPackBlock);
    x += kPackBlock / 2;
    add_dot_broadcast(h0, q_high, x);
    add_dot_broadcast(h1, q_high, x + kPackBlock);
    add_dot_broadcast(h2, q_high, x + 2 * kPackBlock);
    add_dot_broadcast(h3, q_high, x + 3 * kPackBlock);
  }
  // The tile stores each row's sub-scale as an int16 pair (f, f).
  const __m512i f_low = high_halves(load512(sub));
  const __m512i f_high = high_halves(load512(sub + 2 * kRows));
  auto scaled = [&](__m512i low, __m512i high, int t) {
    low = _mm512_sub_epi32(low, _mm512_set1_epi32(128 * xsum[2 * t]));
    high = _mm512_sub_epi32(high, _mm512_set1_epi32(128 * xsum[2 * t + 1]));
    return _mm512_add_epi32(_mm512_mullo_epi32(low, f_low), _mm512_mullo_epi32(high, f_high));
  };
  out[0] = scaled(l0, h0, 0);
  out[1] = scaled(l1, h1, 1);
  out[2] = scaled(l2, h2, 2);
  out[3] = scaled(l3, h3, 3);
}

// The tile (16 rows) x kGroups (1 or 2) groups of NT tokens: each block's integer sums times
// the rows' d and the token's d, plus the rows' minimums times the token's block sum. Two
// groups share each block's weight vectors (loaded once, kept in registers): half the weight
// traffic per token. (The 256-bit body buffers the sums of 8 blocks for one float pass; with
// 32 registers nothing spills and the float work of one block overlaps the next block's
// products.)
template <bool kSigned, bool kMin, bool kSub, int kGroups>
void tile_kernel(const cpu::PackedTile& w, const cpu::PackedActs& x, int64_t g, float* out,
                 int64_t out_stride) {
  constexpr int NT = kTileTokens;
  static_assert(NT == 4 && (kGroups == 1 || kGroups == 2));
  // Named accumulators: as an array GCC stored them to the stack after every block.
  __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  __m512 acc4 = acc0, acc5 = acc0, acc6 = acc0, acc7 = acc0;
  for (int64_t b = 0; b < w.n_blocks; ++b) {
    const __m512 d = _mm512_loadu_ps(w.d + b * kRows);
    const __m512 m = kMin ? _mm512_loadu_ps(w.min + b * kRows) : _mm512_setzero_ps();
    // Block b of the group `skip` (0 or 1) groups on: its token sums, then each into its row.
    __m512i block[NT];
    auto block_sums = [&](int64_t skip) {
      int64_t i =
          x.at<kTileTokens>(g + skip, b);  // the group's first (token, block) pair of block b
      if constexpr (kSub) {
        sub_scaled_block(w.q + b * kBlockBytes, x.q + i * kPackBlock, x.sum + 2 * i,
                         w.sub + b * 4 * kRows, block);
      } else {
        direct_block<kSigned>(w.q + b * kBlockBytes, x.q + i * kPackBlock, x.sum + 2 * i, block);
      }
      return i;
    };
    auto add_block = [&](__m512 acc, int64_t i, int t) {
      acc = _mm512_fmadd_ps(to_float(block[t]), _mm512_mul_ps(d, _mm512_set1_ps(x.d[i + t])), acc);
      return kMin ? _mm512_fmadd_ps(m, _mm512_set1_ps(x.s[i + t]), acc) : acc;
    };
    int64_t i = block_sums(0);
    acc0 = add_block(acc0, i, 0);
    acc1 = add_block(acc1, i, 1);
    acc2 = add_block(acc2, i, 2);
    acc3 = add_block(acc3, i, 3);
    if constexpr (kGroups == 2) {
      i = block_sums(1);
      acc4 = add_block(acc4, i, 0);
      acc5 = add_block(acc5, i, 1);
      acc6 = add_block(acc6, i, 2);
      acc7 = add_block(acc7, i, 3);
    }
  }
  _mm512_storeu_ps(out, acc0);
  _mm512_storeu_ps(out + out_stride, acc1);
  _mm512_storeu_ps(out + 2 * out_stride, acc2);
  _mm512_storeu_ps(out + 3 * out_stride, acc3);
  if constexpr (kGroups == 2) {
    _mm512_storeu_ps(out + 4 * out_stride, acc4);
    _mm512_storeu_ps(out + 5 * out_stride, acc5);
    _mm512_storeu_ps(out + 6 * out_stride, acc6);
    _mm512_storeu_ps(out + 7 * out_stride, acc7);
  }
}

using KernelFn = void (*)(const cpu::PackedTile&, const cpu::PackedActs&, int64_t, float*, int64_t);

// The shapes the packed formats use (backends/cpu/packed_gemm.cpp's table); others are a bug. The
// step grouping of the 256-bit body does not apply: sums go straight to 32 bits here.
template <int kGroups>
KernelFn kernel_for(const cpu::TileShape& s) {
  if (s.has_sub)
    return s.is_signed && !s.has_min ? tile_kernel<true, false, true, kGroups> : nullptr;
  if (s.is_signed) return s.has_min ? nullptr : tile_kernel<true, false, false, kGroups>;
  return s.has_min ? tile_kernel<false, true, false, kGroups> : nullptr;
}

}  // namespace

int packed_tile_rows() { return kRows; }

int packed_chunk_tokens() { return kTileTokens; }

void packed_tile_gemm(const cpu::TileShape& shape, const cpu::PackedTile& w,
                      const cpu::PackedActs& x, int64_t g, int64_t n_groups, float* y,
                      int64_t y_stride) {
  const KernelFn pair = kernel_for<2>(shape);
  for (; n_groups >= 2; g += 2, n_groups -= 2, y += 2 * kTileTokens * y_stride)
    pair(w, x, g, y, y_stride);
  if (n_groups == 1) kernel_for<1>(shape)(w, x, g, y, y_stride);
}

}  // namespace tern::avx512
