// The decode kernels of the interleaved K-quants, Q4_K and Q6_K (x86/repack.h). Expanded per
// level inside TERN_SIMD_NAMESPACE.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/repack_kquant.h"
#endif
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backends/cpu/x86/repack_common.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

// Bits 2I..2I+1 of every byte moved to bits 4-5 (16-bit shifts: what crosses into the
// neighbouring byte falls outside the 0x30 mask the caller applies).
template <int I>
__m256i high_bits_to_4(__m256i bits) {
  if constexpr (I == 0) return _mm256_slli_epi16(bits, 4);
  if constexpr (I == 1) return _mm256_slli_epi16(bits, 2);
  if constexpr (I == 2) return bits;
  if constexpr (I == 3) return _mm256_srli_epi16(bits, 2);
}

#if defined(__AVX512F__)
// high_bits_to_4 for 512-bit vectors, I at run time (0-3).
__m512i shift_to_bits45(__m512i bits, int i) {
  if (i == 0) return _mm512_slli_epi16(bits, 4);
  if (i == 1) return _mm512_slli_epi16(bits, 2);
  if (i == 2) return bits;
  return _mm512_srli_epi16(bits, 2);
}
#endif

// int16 pairs (f, f) per row from the rows' (a, b) pairs: kHigh picks b.
template <bool kHigh>
__m256i duplicate_pair_half(__m256i pairs) {
  constexpr char l = kHigh ? 2 : 0;
  const __m256i pick =
      _mm256_setr_epi8(l, l + 1, l, l + 1, l + 4, l + 5, l + 4, l + 5, l + 8, l + 9, l + 8, l + 9,
                       l + 12, l + 13, l + 12, l + 13, l, l + 1, l, l + 1, l + 4, l + 5, l + 4,
                       l + 5, l + 8, l + 9, l + 8, l + 9, l + 12, l + 13, l + 12, l + 13);
  return _mm256_shuffle_epi8(pairs, pick);
}

// Step t of sub-blocks 2c (lo) and 2c + 1 (hi), c = 2h + C2: their 6-bit values as
// unsigned bytes, the low 4 bits joined by high bits 2 C2 and 2 C2 + 1 of qh[h].
template <int C2>
Nibbles q6_step(const BlockQ6_Kx8& k, int c, int h, int t) {
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  Nibbles low = nibbles(k.ql[c][t]);
  __m256i high = load256(k.qh[h][t]);
  return {_mm256_or_si256(low.lo, _mm256_and_si256(high_bits_to_4<2 * C2>(high), bits45)),
          _mm256_or_si256(low.hi, _mm256_and_si256(high_bits_to_4<2 * C2 + 1>(high), bits45))};
}

// Sub-blocks j = 2c and 2c + 1 (c = 2h + C2: high bits i = 2 C2 and 2 C2 + 1 of qh[h]) of a
// Q6_K group against N activation rows: per row, sum over their 16-value groups of scale *
// (q . x), q unsigned (0..63), and into `offset` sum of scale * sum(x), for the -32 of
// every value. Without VNNI, two products of at most 2 * 63 * 128 fit in int16, so the
// pair sums widen every 2 steps. Always inlined: as a call (which GCC chose once a third
// instantiation of the kernel existed) its sums went through memory and decoding from DRAM
// ran at half the speed (bench_kernels decode_repacked/Q6_K/avx512/262144/1, Zen 4: 13-20
// -> 4-9 GB/s).
template <int C2, int N>
[[gnu::always_inline]] inline void q6_sub_block_pair(const BlockQ6_Kx8& k, int h,
                                                     const BlockQ8_K* const* x, __m256i* sum,
                                                     __m256i* offset) {
  const int c = 2 * h + C2;
  __m256i scales[2];
  for (int t = 0; t < 2; ++t) {
    int j = 2 * c + t;
    scales[t] = _mm256_cvtepi8_epi16(load128(k.scales[j]));
    for (int r = 0; r < N; ++r) {
      int32_t group_sums;  // x's sums of values 0-15 and 16-31 of sub-block j
      std::memcpy(&group_sums, x[r]->bsums + 2 * j, 4);
      offset[r] =
          _mm256_add_epi32(offset[r], _mm256_madd_epi16(scales[t], _mm256_set1_epi32(group_sums)));
    }
  }
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  // vpdpbusd sums 4 steps (16 values, one scale per row) straight into int32; each row's
  // scale of values 0-15 and 16-31 as int32 lanes then multiplies them once.
  const __m128i even_bytes =
      _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i odd_bytes =
      _mm_setr_epi8(1, 3, 5, 7, 9, 11, 13, 15, -1, -1, -1, -1, -1, -1, -1, -1);
  for (int half = 0; half < 2; ++half) {
    __m256i f[2];  // sub-block 2c + t's scales of this half, one per row
    for (int t = 0; t < 2; ++t) {
      __m128i raw = load128(k.scales[2 * c + t]);
      f[t] = _mm256_cvtepi8_epi32(_mm_shuffle_epi8(raw, half == 0 ? even_bytes : odd_bytes));
    }
    __m256i even[N], odd[N];
    for (int r = 0; r < N; ++r) even[r] = odd[r] = _mm256_setzero_si256();
    for (int t = 4 * half; t < 4 * half + 4; ++t) {
      const auto [q0, q1] = q6_step<C2>(k, c, h, t);
      for (int r = 0; r < N; ++r) {
        const int8_t* x_even = x[r]->qs + 64 * c;
        even[r] = _mm256_dpbusd_epi32(even[r], q0, broadcast4(x_even + 4 * t));
        odd[r] = _mm256_dpbusd_epi32(odd[r], q1, broadcast4(x_even + 32 + 4 * t));
      }
    }
    for (int r = 0; r < N; ++r) {
      sum[r] = _mm256_add_epi32(sum[r], _mm256_add_epi32(_mm256_mullo_epi32(even[r], f[0]),
                                                         _mm256_mullo_epi32(odd[r], f[1])));
    }
  }
#else
  for (int s = 0; s < 8; s += 2) {
    __m256i even[N], odd[N];
    for (int r = 0; r < N; ++r) even[r] = odd[r] = _mm256_setzero_si256();
    for (int t = s; t < s + 2; ++t) {
      const auto [q0, q1] = q6_step<C2>(k, c, h, t);
      for (int r = 0; r < N; ++r) {
        const int8_t* x_even = x[r]->qs + 64 * c;
        even[r] = _mm256_add_epi16(even[r], _mm256_maddubs_epi16(q0, broadcast4(x_even + 4 * t)));
        odd[r] =
            _mm256_add_epi16(odd[r], _mm256_maddubs_epi16(q1, broadcast4(x_even + 32 + 4 * t)));
      }
    }
    // Steps 0-3 are values 0-15 (the first scale of each row), 4-7 values 16-31.
    __m256i f0 =
        s < 4 ? duplicate_pair_half<false>(scales[0]) : duplicate_pair_half<true>(scales[0]);
    __m256i f1 =
        s < 4 ? duplicate_pair_half<false>(scales[1]) : duplicate_pair_half<true>(scales[1]);
    for (int r = 0; r < N; ++r) {
      sum[r] = _mm256_add_epi32(
          sum[r], _mm256_add_epi32(_mm256_madd_epi16(even[r], f0), _mm256_madd_epi16(odd[r], f1)));
    }
  }
#endif
}

// One Q4_K sub-block's 8 steps of 4 values for the 8 rows, then times each row's byte scale.
// With VNNI (the AVX512 level) vpdpbusd sums straight into the rows' int32 lanes and one
// vpmulld scales them: 8 vector operations per step pair instead of 10. Without it,
// vpmaddubsw pairs are summed in int16 (8 products of at most 2 * 15 * 128 stay below
// 2^15) and one vpmaddwd against (scale, scale) pairs widens and scales them.
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
struct SubBlockDots {
  __m256i sums = _mm256_setzero_si256();
  void add(__m256i q, __m256i x) { sums = _mm256_dpbusd_epi32(sums, q, x); }
  __m256i scaled(const uint8_t* row_scales) const {
    int64_t bytes;
    std::memcpy(&bytes, row_scales, 8);
    return _mm256_mullo_epi32(sums, _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes)));
  }
};
#else
struct SubBlockDots {
  __m256i sums = _mm256_setzero_si256();
  void add(__m256i q, __m256i x) { sums = _mm256_add_epi16(sums, _mm256_maddubs_epi16(q, x)); }
  __m256i scaled(const uint8_t* row_scales) const {
    constexpr char z = -128;  // vpshufb writes 0 for an index with its top bit set
    const __m256i pairs = _mm256_setr_epi8(0, z, 0, z, 1, z, 1, z, 2, z, 2, z, 3, z, 3, z,  //
                                           4, z, 4, z, 5, z, 5, z, 6, z, 6, z, 7, z, 7, z);
    int64_t bytes;
    std::memcpy(&bytes, row_scales, 8);
    const __m256i f = _mm256_shuffle_epi8(_mm256_set1_epi64x(bytes), pairs);
    return _mm256_madd_epi16(sums, f);
  }
};
#endif

// Two streams, as the legacy types, but each block is a call of its own: inlined, the two
// streams' blocks share one loop body and spill (one stream was then the faster, see gemv_rows in
// x86/repack.h).
struct Q4_Kx8 {
  using Block = BlockQ4_Kx8;
  static constexpr int kStreams = 2;
  template <int N>
  [[gnu::noinline]] static void block(const Block& k, int64_t b, const GroupActs* x, __m256* acc) {
    const BlockQ8_K* a[N];
    for (int r = 0; r < N; ++r) a[r] = &static_cast<const BlockQ8_K*>(x[r].blocks)[b];
    // sum over sub-blocks j of scale_j * (q . x)_j, exact in int32 (< 2^25).
    __m256i scaled[N];
    for (int r = 0; r < N; ++r) scaled[r] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      prefetch_ahead<4>(k, c);
      // Four rows without VNNI: the even and odd sums of every row (8 int16 accumulators)
      // beside the scaled sums left GCC a register short, and the sum it kept on the stack
      // chained each step through a store and a reload. So the low nibbles (sub-block 2c)
      // take one pass over the 8 steps and the high nibbles (2c + 1) a second, each with 4
      // accumulators: the same int16 and int32 sums in the same order, so the same results.
      // Zen 3, one group's blocks from L1: 10.5-11.6 -> 8.6-9.3 cycles a step; both threads
      // from DRAM 1.06-1.15x. Two and three rows lost (4.9 -> 5.6, 7.5 -> 8.5 cycles a step).
      if constexpr (!kVnniDot && N == 4) {
        for (int half = 0; half < 2; ++half) {
          SubBlockDots dots[N];
#pragma GCC unroll 4
          for (int s = 0; s < 8; ++s) {
            __m256i q = load256(k.qs[c][s]);
            if (half == 1) q = _mm256_srli_epi16(q, 4);
            q = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
            for (int r = 0; r < N; ++r) {
              dots[r].add(q, broadcast4(a[r]->qs + 64 * c + 32 * half + 4 * s));
            }
          }
          for (int r = 0; r < N; ++r) {
            scaled[r] = _mm256_add_epi32(scaled[r], dots[r].scaled(k.scales[2 * c + half]));
          }
        }
        continue;
      }
      SubBlockDots even[N], odd[N];
      // Unrolled 4 times: fully, GCC hoists the loads and broadcasts of all 8 steps and
      // spills them; twice, each pass ends in register copies (bench_kernels from L2, best
      // of 12: 28, 32, 30 GB/s).
#pragma GCC unroll 4
      for (int s = 0; s < 8; ++s) {
        Nibbles q = nibbles(k.qs[c][s]);
        for (int r = 0; r < N; ++r) {
          even[r].add(q.lo, broadcast4(a[r]->qs + 64 * c + 4 * s));
          odd[r].add(q.hi, broadcast4(a[r]->qs + 64 * c + 32 + 4 * s));
        }
      }
      for (int r = 0; r < N; ++r) {
        scaled[r] = _mm256_add_epi32(scaled[r], even[r].scaled(k.scales[2 * c]));
        scaled[r] = _mm256_add_epi32(scaled[r], odd[r].scaled(k.scales[2 * c + 1]));
      }
    }
    // sum over j of min_j * sum(x)_j, two sub-blocks per vpmaddwd.
    __m256i mins[N];
    for (int r = 0; r < N; ++r) mins[r] = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      __m256i m = _mm256_cvtepu8_epi16(load128(k.mins[p]));
      for (int r = 0; r < N; ++r) {
        mins[r] = _mm256_add_epi32(mins[r],
                                   _mm256_madd_epi16(m, _mm256_set1_epi32(x[r].sums[4 * b + p])));
      }
    }
    for (int r = 0; r < N; ++r) {
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(scaled[r]), row_scales(k.d, a[r]->d), acc[r]);
      acc[r] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins[r]), row_scales(k.dmin, a[r]->d), acc[r]);
    }
  }
#if defined(__AVX512F__)
  // block() for groups ka and kb at once (lanes 0-7: ka, 8-15: kb); the same integer sums
  // and float steps per lane, so the same results.
  template <int N>
  [[gnu::noinline]] static void pair(const Block& ka, const Block& kb, int64_t b,
                                     const GroupActs* x, __m512* acc) {
    const BlockQ8_K* a[N];
    for (int r = 0; r < N; ++r) a[r] = &static_cast<const BlockQ8_K*>(x[r].blocks)[b];
    const __m512i mask = _mm512_set1_epi8(0x0f);
    __m512i scaled[N];
    for (int r = 0; r < N; ++r) scaled[r] = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      prefetch_ahead<4>(ka, c);
      prefetch_ahead<4>(kb, c);
      constexpr int kChains = kDotChains<N>;
      __m512i even[kChains][N], odd[kChains][N];
      for (int k = 0; k < kChains; ++k) {
        for (int r = 0; r < N; ++r) even[k][r] = odd[k][r] = _mm512_setzero_si512();
      }
#pragma GCC unroll 4
      for (int s = 0; s < 8; s += kChains) {
        for (int k = 0; k < kChains; ++k) {
          const __m512i v = load_pair(ka.qs[c][s + k], kb.qs[c][s + k]);
          const __m512i lo = _mm512_and_si512(v, mask);
          const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
          for (int r = 0; r < N; ++r) {
            const int8_t* xs = a[r]->qs + 64 * c + 4 * (s + k);
            even[k][r] = _mm512_dpbusd_epi32(even[k][r], lo, broadcast4_x16(xs));
            odd[k][r] = _mm512_dpbusd_epi32(odd[k][r], hi, broadcast4_x16(xs + 32));
          }
        }
      }
      if constexpr (kChains == 2) {
        for (int r = 0; r < N; ++r) {
          even[0][r] = _mm512_add_epi32(even[0][r], even[1][r]);
          odd[0][r] = _mm512_add_epi32(odd[0][r], odd[1][r]);
        }
      }
      const __m512i f_even = byte_scales_pair(ka.scales[2 * c], kb.scales[2 * c]);
      const __m512i f_odd = byte_scales_pair(ka.scales[2 * c + 1], kb.scales[2 * c + 1]);
      for (int r = 0; r < N; ++r) {
        scaled[r] = _mm512_add_epi32(scaled[r], _mm512_mullo_epi32(even[0][r], f_even));
        scaled[r] = _mm512_add_epi32(scaled[r], _mm512_mullo_epi32(odd[0][r], f_odd));
      }
    }
    __m512i mins[N];
    for (int r = 0; r < N; ++r) mins[r] = _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
      const __m512i m = _mm512_maskz_cvtepu8_epi16(
          ~__mmask32{0}, _mm256_inserti128_si256(_mm256_zextsi128_si256(load128(ka.mins[p])),
                                                 load128(kb.mins[p]), 1));
      for (int r = 0; r < N; ++r) {
        mins[r] = _mm512_add_epi32(mins[r],
                                   _mm512_madd_epi16(m, _mm512_set1_epi32(x[r].sums[4 * b + p])));
      }
    }
    const __m512 d = halves_pair(ka.d, kb.d);
    const __m512 dmin = halves_pair(ka.dmin, kb.dmin);
    for (int r = 0; r < N; ++r) {
      const __m512 xd = _mm512_set1_ps(a[r]->d);
      acc[r] = _mm512_fmadd_ps(to_float(scaled[r]), _mm512_mul_ps(d, xd), acc[r]);
      acc[r] = _mm512_fnmadd_ps(to_float(mins[r]), _mm512_mul_ps(dmin, xd), acc[r]);
    }
  }
#endif
};

// The prefetch of quarter q (sub-block pair q) of a Q6_K group. With VNNI each quarter
// requests its own quarter of the bytes ahead: in halves, 13 lines at once, both threads
// decoded at 0.78-0.91 of the read test beside them, in quarters at 0.89-0.99 (Zen 4,
// bench_kernels decode_vs_read/Q6_K/1; 1B Q4_K_M file's Q6_K products 5.8-6.0 -> 3.8-5.6 ms
// a token, at four sequences 7.1-8.3 -> 6.4-6.6). The maddubs kernels keep halves: in
// quarters their single sequence ran slower (same file, TERN_CPU=avx2: 5.2-5.4 -> 5.7-6.4 ms).
// Always inlined: GCC's call to it left that kernel's products at 18.7 ms.
[[gnu::always_inline]] inline void prefetch_q6_quarter(const BlockQ6_Kx8& k, int q) {
  if constexpr (kVnniDot) {
    prefetch_ahead<4>(k, q);
  } else if (q % 2 == 0) {
    prefetch_ahead<2>(k, q / 2);
  }
}

// A call per block, as Q4_Kx8 (see gemv_rows in x86/repack.h).
struct Q6_Kx8 {
  using Block = BlockQ6_Kx8;
  static constexpr int kStreams = 2;
  template <int N>
  [[gnu::noinline]] static void block(const Block& k, int64_t b, const GroupActs* x, __m256* acc) {
    const BlockQ8_K* a[N];
    __m256i sum[N], offset[N];
    for (int r = 0; r < N; ++r) {
      a[r] = &static_cast<const BlockQ8_K*>(x[r].blocks)[b];
      sum[r] = offset[r] = _mm256_setzero_si256();
    }
    for (int h = 0; h < 2; ++h) {
      prefetch_q6_quarter(k, 2 * h);
      q6_sub_block_pair<0, N>(k, h, a, sum, offset);
      prefetch_q6_quarter(k, 2 * h + 1);
      q6_sub_block_pair<1, N>(k, h, a, sum, offset);
    }
    // sum(scale * (q - 32) . x) = sum(scale * q . x) - 32 sum(scale * sum(x)).
    for (int r = 0; r < N; ++r) {
      __m256i total = _mm256_sub_epi32(sum[r], _mm256_slli_epi32(offset[r], 5));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), row_scales(k.d, a[r]->d), acc[r]);
    }
  }
#if defined(__AVX512F__)
  // block() for groups ka and kb at once (lanes 0-7: ka, 8-15: kb), the VNNI path's integer
  // sums and float steps per lane, so the same results.
  template <int N>
  [[gnu::noinline]] static void pair(const Block& ka, const Block& kb, int64_t b,
                                     const GroupActs* x, __m512* acc) {
    const BlockQ8_K* a[N];
    __m512i sum[N], offset[N];
    for (int r = 0; r < N; ++r) {
      a[r] = &static_cast<const BlockQ8_K*>(x[r].blocks)[b];
      sum[r] = offset[r] = _mm512_setzero_si512();
    }
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    const __m128i even_bytes =
        _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i odd_bytes =
        _mm_setr_epi8(1, 3, 5, 7, 9, 11, 13, 15, -1, -1, -1, -1, -1, -1, -1, -1);
    for (int c = 0; c < 4; ++c) {
      prefetch_q6_quarter(ka, c);
      prefetch_q6_quarter(kb, c);
      const int h = c / 2;
      const int shift_lo = 2 * (c % 2), shift_hi = shift_lo + 1;  // high bits of 2c, 2c + 1
      for (int t = 0; t < 2; ++t) {
        const int j = 2 * c + t;
        const __m512i scales = _mm512_maskz_cvtepi8_epi16(
            ~__mmask32{0}, _mm256_inserti128_si256(_mm256_zextsi128_si256(load128(ka.scales[j])),
                                                   load128(kb.scales[j]), 1));
        for (int r = 0; r < N; ++r) {
          int32_t group_sums;  // x's sums of values 0-15 and 16-31 of sub-block j
          std::memcpy(&group_sums, a[r]->bsums + 2 * j, 4);
          offset[r] =
              _mm512_add_epi32(offset[r], _mm512_madd_epi16(scales, _mm512_set1_epi32(group_sums)));
        }
      }
      for (int half = 0; half < 2; ++half) {
        __m512i f[2];  // sub-block 2c + t's scales of this half, one per row of both groups
        for (int t = 0; t < 2; ++t) {
          const __m128i pick = half == 0 ? even_bytes : odd_bytes;
          f[t] = _mm512_maskz_cvtepi8_epi32(
              kAll16, _mm_unpacklo_epi64(_mm_shuffle_epi8(load128(ka.scales[2 * c + t]), pick),
                                         _mm_shuffle_epi8(load128(kb.scales[2 * c + t]), pick)));
        }
        __m512i even[N], odd[N];
        for (int r = 0; r < N; ++r) even[r] = odd[r] = _mm512_setzero_si512();
        for (int t = 4 * half; t < 4 * half + 4; ++t) {
          const __m512i low = load_pair(ka.ql[c][t], kb.ql[c][t]);
          const __m512i high = load_pair(ka.qh[h][t], kb.qh[h][t]);
          const __m512i q0 =
              _mm512_or_si512(_mm512_and_si512(low, low4),
                              _mm512_and_si512(shift_to_bits45(high, shift_lo), bits45));
          const __m512i q1 =
              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 4), low4),
                              _mm512_and_si512(shift_to_bits45(high, shift_hi), bits45));
          for (int r = 0; r < N; ++r) {
            const int8_t* x_even = a[r]->qs + 64 * c;
            even[r] = _mm512_dpbusd_epi32(even[r], q0, broadcast4_x16(x_even + 4 * t));
            odd[r] = _mm512_dpbusd_epi32(odd[r], q1, broadcast4_x16(x_even + 32 + 4 * t));
          }
        }
        for (int r = 0; r < N; ++r) {
          sum[r] = _mm512_add_epi32(sum[r], _mm512_add_epi32(_mm512_mullo_epi32(even[r], f[0]),
                                                             _mm512_mullo_epi32(odd[r], f[1])));
        }
      }
    }
    const __m512 d = halves_pair(ka.d, kb.d);
    for (int r = 0; r < N; ++r) {
      const __m512i total = _mm512_sub_epi32(sum[r], _mm512_maskz_slli_epi32(kAll16, offset[r], 5));
      acc[r] = _mm512_fmadd_ps(to_float(total), _mm512_mul_ps(d, _mm512_set1_ps(a[r]->d)), acc[r]);
    }
  }
#endif
};

}  // namespace

}  // namespace tern::TERN_SIMD_NAMESPACE
