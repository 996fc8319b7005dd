// The decode kernels over interleaved weight groups (backends/cpu/repack_kernels.h), expanded once
// per SIMD level by repack_<level>.cpp with TERN_SIMD_NAMESPACE set and that level's flags.
// Each 32-byte load is 4 bytes of 8 rows; its low and high nibbles each multiply 4
// broadcast activation bytes (vpmaddubsw), so one instruction advances 8 rows by 4 values
// and the 8 rows' sums come out in the 8 lanes of one vector, scaled there all at once
// (no horizontal sums, no per-row scale gathers: twice the row kernels' speed per core).
// Batched decoding passes up to kMaxActRows activation rows at once (8 for the AVX512 paired
// kernels of the legacy types and Q8_0): each weight load and its nibble split then serve
// every row (kernels are templates over the row count N).
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/repack.h"
#endif

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "backends/cpu/repack_kernels.h"
#include "backends/cpu/x86/simd_helpers.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

using cpu::BlockQ4_0x8;
using cpu::BlockQ4_1x8;
using cpu::BlockQ5_0x8;
using cpu::BlockQ5_1x8;
using cpu::BlockQ4_Kx8;
using cpu::BlockQ8_0x8;
using cpu::BlockQ6_Kx8;
using cpu::GroupActs;

// How far ahead of its reads a kernel prefetches: far enough to cover DRAM latency at the
// rate one core consumes groups, near enough to stay in L1. 1-4 KiB measured alike on
// earlier machines; a Zen 5 core, which pulls 30+ GB/s alone, ran 2 KiB short (one thread
// from DRAM, 4 KiB: Q6_K 18-29 -> 27-33 GB/s, Q4_K +10-20%; 8 KiB no better).
constexpr size_t kPrefetchAhead = 4096;
// The kernels also request their bytes this far ahead into L2, except the legacy types' and
// Q8_0's block() kernels (one row at the AVX512 level, every width at AVX2). In spells when the L1
// requests alone left both threads decoding at 0.55-0.78 of the read test beside them (in phases of
// 27 to 48 GB/s), they then kept 0.87-1.04: one row of Q4_K 1.16-2.0x, of Q6_K 1.09-1.44x as fast;
// when the L1 requests alone reached 0.9-1.0, they cost 1-6%. Four rows at SmolLM2's 576 columns:
// Q4_1 1.06-1.13x, Q8_0 1.0-1.44x. One row of Q4_1 and Q8_0 lost 3-5% and gained nothing in the
// spells, so those keep the L1 requests alone. (Zen 4, both threads from DRAM, an in-process A/B
// over 256 MiB of each type on huge pages, 2048 columns unless said, the kernels before and after
// in turn; 8 and 16 KiB ahead measured alike; the AVX2 level's Q4_K and Q6_K 0.91-1.30x.)
// End to end, the 1B Q4_K_M file, three alternating rounds: one sequence 37-47 -> 50-58
// t/s, four 115-137 -> 147-163.
constexpr size_t kPrefetchAheadL2 = 12288;

// Part `part` of kParts of the bytes kPrefetchAhead (and kPrefetchAheadL2, kAlsoL2) past
// block w. Every block kernel prefetches its share as it starts; the K-quant groups (1152
// and 1680 bytes) spread theirs over their sub-blocks: requested all at once, their 18-26
// lines held up the loads behind them (one thread from DRAM, bench_kernels: Q4_K 13-15 ->
// 18 GB/s in 4 parts, Q6_K 11-12 -> 15-16 GB/s in 2; 2 parts were slower for Q4_K; Q6_K:
// prefetch_q6_quarter).
template <int kParts = 1, bool kAlsoL2 = true, typename Block>
void prefetch_ahead(const Block& w, int part = 0) {
  constexpr size_t kPart = sizeof(Block) / kParts;
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&w) + part * kPart;
  prefetch<kPart>(p + kPrefetchAhead);
  if constexpr (kAlsoL2) prefetch<kPart, _MM_HINT_T2>(p + kPrefetchAheadL2);
}

// The low and high nibbles of 32 bytes, as unsigned bytes.
struct Nibbles {
  __m256i lo, hi;
};
Nibbles nibbles(const void* p) {
  const __m256i mask = _mm256_set1_epi8(0x0f);
  __m256i v = load256(p);
  return {_mm256_and_si256(v, mask), _mm256_and_si256(_mm256_srli_epi16(v, 4), mask)};
}

// Bit p of every byte moved to bit 4 (cpu::BlockQ5_0x8's fifth-bit planes).
__m256i fifth_bit_plane(__m256i planes, int p) {
  if (p < 4) return _mm256_slli_epi16(planes, 4 - p);
  return p == 4 ? planes : _mm256_srli_epi16(planes, p - 4);
}

#if defined(__AVX512F__)
// The AVX512 level runs two groups side by side in one 512-bit vector: lanes 0-7 are the
// 8 rows of group a, lanes 8-15 those of group b (the two streams of gemv below). Each
// activation broadcast, vpdpbusd, conversion and scaling then serves 16 rows: several
// activation rows are bound by these per-row operations, not by the weight bytes
// (bench_kernels, Intel Xeon, 4 rows from L2: Q4_1 14 -> 19-20 GB/s, Q8_0 18 -> 30; not
// measured on Zen 4). The zero-masked forms of the conversions below: GCC 12's plain
// forms start from an "undefined" vector and then fail -Werror=maybe-uninitialized.
constexpr __mmask16 kAll16 = 0xffff;
__m512i load_pair(const void* a, const void* b) {
  return _mm512_maskz_inserti64x4(0xff, _mm512_maskz_loadu_epi64(0x0f, a), load256(b), 1);
}
// The two groups' 8 fp16 scales as 16 floats.
__m512 halves_pair(const uint16_t* a, const uint16_t* b) {
  return _mm512_maskz_cvtph_ps(
      kAll16, _mm256_inserti128_si256(_mm256_zextsi128_si256(load128(a)), load128(b), 1));
}
__m512 to_float(__m512i v) { return _mm512_maskz_cvtepi32_ps(kAll16, v); }
// Dependent vpdpbusd chains per activation row in the paired kernels that sum 8 steps into
// one row's lanes (Q8_0, Q4_K): from 4 rows on, two of 4 (even and odd steps) instead of one
// of 8. bench_kernels decode_repacked/*/avx512/384 (from L2, Zen 5): Q4_K 4 rows +5-20%,
// 8 rows +20%, Q8_0 4 rows +4%; 2 rows within noise, so they keep one chain.
template <int N>
constexpr int kDotChains = N >= 4 ? 2 : 1;

__m512i broadcast4_x16(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
// The two groups' 8 byte scales of one sub-block as 16 int32 lanes.
__m512i byte_scales_pair(const uint8_t* a, const uint8_t* b) {
  int64_t lo, hi;
  std::memcpy(&lo, a, 8);
  std::memcpy(&hi, b, 8);
  return _mm512_maskz_cvtepu8_epi32(kAll16, _mm_set_epi64x(hi, lo));
}
__m512i fifth_bit_plane(__m512i planes, int p) {
  if (p < 4) return _mm512_slli_epi16(planes, static_cast<unsigned>(4 - p));
  return p == 4 ? planes : _mm512_srli_epi16(planes, static_cast<unsigned>(p - 4));
}
#endif

__m256 row_halves(const uint16_t* h) { return _mm256_cvtph_ps(load128(h)); }

// The 8 rows' fp16 scales times the activation block's scale.
__m256 row_scales(const uint16_t* d, float x_d) {
  return _mm256_mul_ps(row_halves(d), _mm256_set1_ps(x_d));
}

// Bits 2I..2I+1 of every byte moved to bits 4-5 (16-bit shifts: what crosses into the
// neighbouring byte falls outside the 0x30 mask the caller applies).
template <int I>
__m256i high_bits_to_4(__m256i bits) {
  if constexpr (I == 0) return _mm256_slli_epi16(bits, 4);
  if constexpr (I == 1) return _mm256_slli_epi16(bits, 2);
  if constexpr (I == 2) return bits;
  if constexpr (I == 3) return _mm256_srli_epi16(bits, 2);
}

// int16 pairs (f, f) per row from the rows' (a, b) pairs: kHigh picks b.
template <bool kHigh>
__m256i duplicate_pair_half(__m256i pairs) {
  constexpr char l = kHigh ? 2 : 0;
  const __m256i pick = _mm256_setr_epi8(l, l + 1, l, l + 1, l + 4, l + 5, l + 4, l + 5, l + 8, l + 9,
                                        l + 8, l + 9, l + 12, l + 13, l + 12, l + 13, l, l + 1, l,
                                        l + 1, l + 4, l + 5, l + 4, l + 5, l + 8, l + 9, l + 8, l + 9,
                                        l + 12, l + 13, l + 12, l + 13);
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
      offset[r] = _mm256_add_epi32(offset[r], _mm256_madd_epi16(scales[t], _mm256_set1_epi32(group_sums)));
    }
  }
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  // vpdpbusd sums 4 steps (16 values, one scale per row) straight into int32; each row's
  // scale of values 0-15 and 16-31 as int32 lanes then multiplies them once.
  const __m128i even_bytes = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i odd_bytes = _mm_setr_epi8(1, 3, 5, 7, 9, 11, 13, 15, -1, -1, -1, -1, -1, -1, -1, -1);
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
        odd[r] = _mm256_add_epi16(odd[r], _mm256_maddubs_epi16(q1, broadcast4(x_even + 32 + 4 * t)));
      }
    }
    // Steps 0-3 are values 0-15 (the first scale of each row), 4-7 values 16-31.
    __m256i f0 = s < 4 ? duplicate_pair_half<false>(scales[0]) : duplicate_pair_half<true>(scales[0]);
    __m256i f1 = s < 4 ? duplicate_pair_half<false>(scales[1]) : duplicate_pair_half<true>(scales[1]);
    for (int r = 0; r < N; ++r) {
      sum[r] = _mm256_add_epi32(sum[r], _mm256_add_epi32(_mm256_madd_epi16(even[r], f0),
                                                         _mm256_madd_epi16(odd[r], f1)));
    }
  }
#endif
}

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
      sums16[r] = _mm256_add_epi16(sums16[r], _mm256_maddubs_epi16(q.hi, broadcast4(x[r] + 16 + 4 * s)));
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
// for r < N. kStreams: groups in flight per pass (see gemv below).
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
  static constexpr int kOffset = requires(const Block& w) { w.qh; } ? 16 : 8;
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
// streams' blocks share one loop body and spill (one stream was then the faster, see gemv).
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
        mins[r] = _mm256_add_epi32(mins[r], _mm256_madd_epi16(m, _mm256_set1_epi32(x[r].sums[4 * b + p])));
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

// A call per block, as Q4_Kx8 (see gemv).
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
};

// Weight streams per pass over the activations: K::kStreams, but one from three activation
// rows without VNNI. There the rows' products hold the core more than the weights' bytes do,
// and the second stream's float sums left the inlined legacy kernels short of registers
// (their sums went through the stack). Both threads from DRAM, Zen 3, one stream against two
// in one process: three rows Q4_1 (SmolLM2's 576 columns) 1.07x, Q4_K 1.10x; four rows Q4_1
// 1.10-1.13x, Q8_0 1.06x (1.15x at 576 columns), Q4_K 1.09x, Q6_K 1.05x; two rows lost
// (Q4_1 0.93x, Q4_K 0.99x).
template <typename K, int N>
constexpr int streams_per_pass() {
  return !kVnniDot && N >= 3 ? 1 : K::kStreams;
}

// y[8g + r] for the n_groups groups at `groups`, each pass over the activation row taking
// streams_per_pass groups spread over the range (group g, g + n_groups / 2): for the byte-light
// legacy kernels two streams of weights in flight draw more from memory than one (one
// thread from DRAM: Q4_0 15 -> 19.5 GB/s, Q8_0 13 -> 18.7 GB/s in bench_kernels), and the
// two accumulators are independent chains. Q4_K too, once its blocks are calls (both
// threads from DRAM: 10-12 -> 13-14 GB/s each; 1B Q4_K_M tg128 +6% with the longer decode
// tasks of backends/cpu/matmul.cpp). Q6_K as well, its blocks calls like Q4_K's (Zen 4, one thread
// from DRAM: 12.5 -> 23 GB/s at the AVX512 level, 16 -> 22 at AVX2; inlined, two streams
// measured no gain on Zen 3).
//
// N activation rows share each pass: row r's results go to y + r * y_stride.
template <typename K, int N>
void gemv_rows(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x,
               float* y, int64_t y_stride) {
  using Block = typename K::Block;
  constexpr int kS = streams_per_pass<K, N>();
  const auto* w = static_cast<const Block*>(groups);
  const int64_t stride = n_groups / kS;  // groups between one pass's streams
  // The loop prefetches kPrefetchAhead bytes past its reads: fetch the bytes before that
  // now, all at once, rather than as one demand miss after another (a decoded token runs
  // thousands of these calls, each starting cold). Only the first 1 KiB of them measured
  // 0-2% faster for the 1B shape's products alone (bench_kernels decode_jobs), but the 1B
  // Q4_K_M file's decode end to end slower (Zen 4, four rounds in turn: 37-43 against
  // 43-47 t/s).
  for (int s = 0; s < kS; ++s) prefetch<kPrefetchAhead>(w + s * stride * n_blocks);
  for (int64_t g = 0; g < n_groups; ++g) {
    int in_pass = stride > 0 && g < stride * kS ? kS : 1;
    if (in_pass > 1 && g >= stride) continue;  // done as another pass's second stream
    const Block* rows[kS];
    __m256 acc[kS][N];
    for (int s = 0; s < in_pass; ++s) {
      rows[s] = w + (g + s * stride) * n_blocks;
      for (int r = 0; r < N; ++r) acc[s][r] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < n_blocks; ++b) {
      for (int s = 0; s < in_pass; ++s) K::template block<N>(rows[s][b], b, x, acc[s]);
    }
    for (int s = 0; s < in_pass; ++s) {
      for (int r = 0; r < N; ++r) {
        _mm256_storeu_ps(y + r * y_stride + cpu::kGroupRows * (g + s * stride), acc[s][r]);
      }
    }
  }
}

#if defined(__AVX512F__)
// gemv_rows for kernels with pair(): the two streams share one vector. Group g pairs with
// g + half; an odd count's last group runs against itself and keeps its low lanes.
template <typename K, int N>
void gemv_pairs(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x,
                float* y, int64_t y_stride) {
  using Block = typename K::Block;
  const auto* w = static_cast<const Block*>(groups);
  const int64_t half = (n_groups + 1) / 2;
  prefetch<kPrefetchAhead>(w);  // as gemv_rows
  if (half < n_groups) prefetch<kPrefetchAhead>(w + half * n_blocks);
  for (int64_t g = 0; g < half; ++g) {
    const int64_t g2 = g + half < n_groups ? g + half : g;
    const Block* a = w + g * n_blocks;
    const Block* b = w + g2 * n_blocks;
    __m512 acc[N];
    for (int r = 0; r < N; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t blk = 0; blk < n_blocks; ++blk) K::template pair<N>(a[blk], b[blk], blk, x, acc);
    for (int r = 0; r < N; ++r) {
      float* yr = y + r * y_stride;
      _mm512_mask_storeu_ps(yr + cpu::kGroupRows * g, 0x00ff, acc[r]);
      // lanes 8-15 land at 8 g2 onwards
      if (g2 != g) _mm512_mask_storeu_ps(yr + cpu::kGroupRows * (g2 - 1), 0xff00, acc[r]);
    }
  }
}
#endif

// Kernels with pair() take it at the AVX512 level for several activation rows. One row
// keeps the 256-bit streams: it is bound by the weights' bytes, and pair()'s extra insert
// per load made it 3-10% slower from L2 (bench_kernels).
template <typename K, int N>
void gemv_n(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x, float* y,
            int64_t y_stride) {
#if defined(__AVX512F__)
  if constexpr (N > 1 && requires { &K::template pair<N>; }) {
    gemv_pairs<K, N>(groups, n_blocks, n_groups, x, y, y_stride);
  } else
#endif
  {
    gemv_rows<K, N>(groups, n_blocks, n_groups, x, y, y_stride);
  }
}

// Activation rows per pass over the weights: kMaxActRows, or a paired kernel's kPairRows
// (its registers hold 8 rows' sums: bench_kernels Q4_1 from L2, 8 rows in one pass 29.8 us
// against 35.3 in two of 4).
template <typename K>
constexpr int rows_per_pass() {
#if defined(__AVX512F__)
  if constexpr (requires { K::kPairRows; }) return K::kPairRows;
#endif
  return cpu::kMaxActRows;
}

// gemv_n<K, n> for the runtime n in [1, sizeof...(N)].
template <typename K, int... N>
void gemv_pass(int n, const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x,
               float* y, int64_t y_stride, std::integer_sequence<int, N...>) {
  (void)((n == N + 1 ? (gemv_n<K, N + 1>(groups, n_blocks, n_groups, x, y, y_stride), true)
                     : false) ||
         ...);
}

template <typename K>
void gemv(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x, int n_x,
          float* y, int64_t y_stride) {
  constexpr int kPass = rows_per_pass<K>();
  for (int r = 0; r < n_x; r += kPass) {
    gemv_pass<K>(std::min(kPass, n_x - r), groups, n_blocks, n_groups, x + r, y + r * y_stride,
                 y_stride, std::make_integer_sequence<int, kPass>{});
  }
}

}  // namespace

// The entry points of backends/cpu/repack_kernels.h, one per interleaved type.
#define TERN_DEFINE_GEMV(name, kernel)                                                       \
  void name(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x,      \
            int n_x, float* y, int64_t y_stride) {                                           \
    gemv<kernel>(groups, n_blocks, n_groups, x, n_x, y, y_stride);                           \
  }
TERN_DEFINE_GEMV(gemv_q4_0x8, LegacyX8<BlockQ4_0x8>)
TERN_DEFINE_GEMV(gemv_q4_1x8, LegacyX8<BlockQ4_1x8>)
TERN_DEFINE_GEMV(gemv_q5_0x8, LegacyX8<BlockQ5_0x8>)
TERN_DEFINE_GEMV(gemv_q5_1x8, LegacyX8<BlockQ5_1x8>)
TERN_DEFINE_GEMV(gemv_q8_0x8, Q8_0x8)
TERN_DEFINE_GEMV(gemv_q4_kx8, Q4_Kx8)
TERN_DEFINE_GEMV(gemv_q6_kx8, Q6_Kx8)
#undef TERN_DEFINE_GEMV

}  // namespace tern::TERN_SIMD_NAMESPACE
