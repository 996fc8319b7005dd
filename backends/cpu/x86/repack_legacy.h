// The decode kernels of the interleaved legacy types (Q4_0, Q4_1, Q5_0, Q5_1) and Q8_0
// (x86/repack.h). Expanded per level inside TERN_SIMD_NAMESPACE.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/repack_legacy.h"
#endif
#pragma once

#include <immintrin.h>

#include <array>
#include <cstdint>
#include <type_traits>

#include "backends/cpu/x86/repack_common.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

// The 8 rows' sums (int32) of a legacy group block's values times the block's activations
// of N rows (x[r]): 4 steps of values 4s..4s+3 (low nibbles) and 16+4s.. (high), each
// joined by its fifth bit from planes 2s and 2s + 1 where the type has them. With VNNI
// (the AVX512 level) vpdpbusd sums straight into int32; without, the byte products are
// summed in 16 bits: 8 of at most 2 * 15 * 127 stay below 2^15, and 4 of 2 * 31 * 127 for
// 5-bit values. Both are exact, so both levels give the same sums.
// Inputs and results by value, and inlined: through pointers GCC stored each row's sums
// before it reloaded the next row's pointer and that reload stalled on the store; as a
// call, the results went through memory (N = 4 took 2.6x the time of N = 1 per row,
// bench_kernels from L2; inlined, 0.6x).
template <int N>
struct RowSums {  // (std::array drops __m256i's vector attributes)
  __m256i v[N];
};
template <int N, typename Block>
[[gnu::always_inline]] inline RowSums<N> legacy_block_dots(const Block& w,
                                                           std::array<const int8_t*, N> x) {
  constexpr bool kFifthBit = requires { w.qh; };
  RowSums<N> sums;
  for (int r = 0; r < N; ++r) sums.v[r] = _mm256_setzero_si256();
#if !(defined(__AVX512VNNI__) && defined(__AVX512VL__))
  constexpr int kStepsPerWidening = kFifthBit ? 2 : 4;
  __m256i sums16[N];
  for (int r = 0; r < N; ++r) sums16[r] = _mm256_setzero_si256();
#endif
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) {
    Nibbles q = nibbles(w.qs[s]);
    if constexpr (kFifthBit) {
      const __m256i bit4 = _mm256_set1_epi8(0x10);
      const __m256i planes = load256(w.qh);
      q.lo = _mm256_or_si256(q.lo, _mm256_and_si256(fifth_bit_plane(planes, 2 * s), bit4));
      q.hi = _mm256_or_si256(q.hi, _mm256_and_si256(fifth_bit_plane(planes, 2 * s + 1), bit4));
    }
    for (int r = 0; r < N; ++r) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
      sums.v[r] = _mm256_dpbusd_epi32(sums.v[r], q.lo, broadcast4(x[r] + 4 * s));
      sums.v[r] = _mm256_dpbusd_epi32(sums.v[r], q.hi, broadcast4(x[r] + 16 + 4 * s));
#else
      sums16[r] = _mm256_add_epi16(sums16[r], _mm256_maddubs_epi16(q.lo, broadcast4(x[r] + 4 * s)));
      keep_chain(sums16[r]);
      sums16[r] =
          _mm256_add_epi16(sums16[r], _mm256_maddubs_epi16(q.hi, broadcast4(x[r] + 16 + 4 * s)));
      keep_chain(sums16[r]);
      if ((s + 1) % kStepsPerWidening == 0) {
        sums.v[r] = _mm256_add_epi32(sums.v[r], _mm256_madd_epi16(sums16[r], _mm256_set1_epi16(1)));
        sums16[r] = _mm256_setzero_si256();
      }
#endif
    }
  }
  return sums;
}

#if defined(__AVX512F__)
// legacy_block_dots for two groups' blocks at once (lanes 0-7: a, 8-15: b), vpdpbusd.
template <int N>
struct RowSums16 {
  __m512i v[N];
};
template <int N, typename Block>
[[gnu::always_inline]] inline RowSums16<N> legacy_pair_dots(const Block& a, const Block& b,
                                                            std::array<const int8_t*, N> x) {
  constexpr bool kFifthBit = requires { a.qh; };
  const __m512i mask = _mm512_set1_epi8(0x0f);
  RowSums16<N> sums;
  __m512i high[N];  // the high nibbles' sums: two chains of 4 vpdpbusd, not one of 8
  for (int r = 0; r < N; ++r) sums.v[r] = high[r] = _mm512_setzero_si512();
  __m512i planes = _mm512_setzero_si512();
  if constexpr (kFifthBit) planes = load_pair(a.qh, b.qh);
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) {
    __m512i v = load_pair(a.qs[s], b.qs[s]);
    __m512i lo = _mm512_and_si512(v, mask);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
    if constexpr (kFifthBit) {
      const __m512i bit4 = _mm512_set1_epi8(0x10);
      lo = _mm512_or_si512(lo, _mm512_and_si512(fifth_bit_plane(planes, 2 * s), bit4));
      hi = _mm512_or_si512(hi, _mm512_and_si512(fifth_bit_plane(planes, 2 * s + 1), bit4));
    }
    for (int r = 0; r < N; ++r) {
      sums.v[r] = _mm512_dpbusd_epi32(sums.v[r], lo, broadcast4_x16(x[r] + 4 * s));
      high[r] = _mm512_dpbusd_epi32(high[r], hi, broadcast4_x16(x[r] + 16 + 4 * s));
    }
  }
  for (int r = 0; r < N; ++r) sums.v[r] = _mm512_add_epi32(sums.v[r], high[r]);
  return sums;
}
#endif

// Each type's kernel: acc[r] += the 8 rows' products with block b of activation row x[r],
// for r < N. kStreams: groups in flight per pass (gemv_rows, x86/repack.h).
//
// Q4_0 / Q5_0 (values q - 8 / q - 16 against Q8_0 activations) and Q4_1 / Q5_1 (d q + m
// against Q8_1 activations: m times the block's stored d * sum(q), as the row kernels and
// llama.cpp take it).
template <typename GroupBlock>
struct LegacyX8 {
  using Block = GroupBlock;
  static constexpr int kStreams = 2;
  static constexpr int kPairRows = 8;
  static constexpr bool kHasMin = requires(const Block& w) { w.m; };
  static constexpr int kOffset = requires(const Block& w) { w.qh; }
  ? 16 : 8;
  using Act = std::conditional_t<kHasMin, BlockQ8_1, BlockQ8_0>;
  template <int N>
  static void block(const Block& w, int64_t b, const GroupActs* x, __m256* acc) {
    prefetch_ahead<1, /*kAlsoL2=*/false>(w);
    std::array<const int8_t*, N> qs;
    for (int r = 0; r < N; ++r) qs[r] = static_cast<const Act*>(x[r].blocks)[b].qs;
    const RowSums<N> dots = legacy_block_dots<N>(w, qs);
    for (int r = 0; r < N; ++r) {
      if constexpr (kHasMin) {
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots.v[r]), row_scales(w.d, x[r].d[b]), acc[r]);
        acc[r] = _mm256_fmadd_ps(row_halves(w.m), _mm256_set1_ps(x[r].s[b]), acc[r]);
      } else {
        // (q - offset) . x = q . x - offset * sum(x): the same for the 8 rows.
        __m256i sums = _mm256_sub_epi32(dots.v[r], _mm256_set1_epi32(kOffset * x[r].sums[b]));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), row_scales(w.d, x[r].d[b]), acc[r]);
      }
    }
  }
#if defined(__AVX512F__)
  // block() for groups a and b at once (lanes 0-7: a, 8-15: b); the same operations per
  // lane, so the same results.
  template <int N>
  static void pair(const Block& a, const Block& b, int64_t blk, const GroupActs* x, __m512* acc) {
    prefetch_ahead(a);
    prefetch_ahead(b);
    std::array<const int8_t*, N> qs;
    for (int r = 0; r < N; ++r) qs[r] = static_cast<const Act*>(x[r].blocks)[blk].qs;
    const RowSums16<N> dots = legacy_pair_dots<N>(a, b, qs);
    const __m512 d = halves_pair(a.d, b.d);
    __m512 m = _mm512_setzero_ps();
    if constexpr (kHasMin) m = halves_pair(a.m, b.m);
    for (int r = 0; r < N; ++r) {
      const __m512 scale = _mm512_mul_ps(d, _mm512_set1_ps(x[r].d[blk]));
      if constexpr (kHasMin) {
        acc[r] = _mm512_fmadd_ps(to_float(dots.v[r]), scale, acc[r]);
        acc[r] = _mm512_fmadd_ps(m, _mm512_set1_ps(x[r].s[blk]), acc[r]);
      } else {
        __m512i sums = _mm512_sub_epi32(dots.v[r], _mm512_set1_epi32(kOffset * x[r].sums[blk]));
        acc[r] = _mm512_fmadd_ps(to_float(sums), scale, acc[r]);
      }
    }
  }
#endif
};

struct Q8_0x8 {
  using Block = BlockQ8_0x8;
  static constexpr int kStreams = 2;
  static constexpr int kPairRows = 8;
  template <int N>
  static void block(const Block& w, int64_t b, const GroupActs* x, __m256* acc) {
    prefetch_ahead<1, /*kAlsoL2=*/false>(w);
    const int8_t* qs[N];
    __m256i sums[N];
    for (int r = 0; r < N; ++r) {
      qs[r] = static_cast<const BlockQ8_0*>(x[r].blocks)[b].qs;
      sums[r] = _mm256_setzero_si256();
    }
    for (int s = 0; s < 8; ++s) {  // |q| . (x with q's signs): vpmaddubsw wants one unsigned side
      __m256i q = load256(w.qs[s]);
      __m256i abs_q = _mm256_sign_epi8(q, q);
      for (int r = 0; r < N; ++r) {
        sums[r] = add_dot_u8_i8(sums[r], abs_q, _mm256_sign_epi8(broadcast4(qs[r] + 4 * s), q));
        if constexpr (!kVnniDot) keep_chain(sums[r]);
      }
    }
    for (int r = 0; r < N; ++r) {
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[r]), row_scales(w.d, x[r].d[b]), acc[r]);
    }
  }
#if defined(__AVX512F__)
  // block() for groups a and b at once. vpdpbusd takes the weights as unsigned bytes:
  // q + 128 (one xor for every row), and 128 * sum(x) off each sum after; exact, so the
  // results are block()'s.
  template <int N>
  static void pair(const Block& a, const Block& b, int64_t blk, const GroupActs* x, __m512* acc) {
    prefetch_ahead(a);
    prefetch_ahead(b);
    const int8_t* qs[N];
    constexpr int kChains = kDotChains<N>;
    __m512i sums[kChains][N];
    for (int r = 0; r < N; ++r) {
      qs[r] = static_cast<const BlockQ8_0*>(x[r].blocks)[blk].qs;
      for (int k = 0; k < kChains; ++k) sums[k][r] = _mm512_setzero_si512();
    }
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
#pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      __m512i q = _mm512_xor_si512(load_pair(a.qs[s], b.qs[s]), flip);
      for (int r = 0; r < N; ++r)
        sums[s % kChains][r] =
            _mm512_dpbusd_epi32(sums[s % kChains][r], q, broadcast4_x16(qs[r] + 4 * s));
    }
    if constexpr (kChains == 2) {
      for (int r = 0; r < N; ++r) sums[0][r] = _mm512_add_epi32(sums[0][r], sums[1][r]);
    }
    const __m512 d = halves_pair(a.d, b.d);
    for (int r = 0; r < N; ++r) {
      __m512i dots = _mm512_sub_epi32(sums[0][r], _mm512_set1_epi32(128 * x[r].sums[blk]));
      acc[r] =
          _mm512_fmadd_ps(to_float(dots), _mm512_mul_ps(d, _mm512_set1_ps(x[r].d[blk])), acc[r]);
    }
  }
#endif
};

}  // namespace

}  // namespace tern::TERN_SIMD_NAMESPACE
