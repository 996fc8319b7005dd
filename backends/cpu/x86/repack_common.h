// What the decode kernels over interleaved weight groups (x86/repack.h) share: how far ahead
// they prefetch, the nibble split, the AVX512 level's helpers for two groups side by side and
// the rows' scales. Expanded per level inside TERN_SIMD_NAMESPACE.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/repack_common.h"
#endif
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/cpu/repack_kernels.h"
#include "backends/cpu/x86/simd_helpers.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

using cpu::BlockQ4_0x8;
using cpu::BlockQ4_1x8;
using cpu::BlockQ4_Kx8;
using cpu::BlockQ5_0x8;
using cpu::BlockQ5_1x8;
using cpu::BlockQ6_Kx8;
using cpu::BlockQ8_0x8;
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
// At AVX2 they are not made: on an AVX2-only Zen 3 every decode kernel ran faster without
// them (bench_kernels decode_vs_read with the kernel's two forms in turn instead of the read,
// both threads from DRAM, speed with / without: Q6_K one row 0.74-0.83x, four rows
// 0.93-0.95x, Q4_K 0.95-0.98x; the legacy types and Q8_0 with them 0.94-0.98x).
#if defined(__AVX512F__)
constexpr bool kL2Requests = true;
#else
constexpr bool kL2Requests = false;
#endif

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
  if constexpr (kAlsoL2 && kL2Requests) prefetch<kPart, _MM_HINT_T2>(p + kPrefetchAheadL2);
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
// 8 rows of group a, lanes 8-15 those of group b (the two streams of gemv_rows, x86/repack.h). Each
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

}  // namespace

}  // namespace tern::TERN_SIMD_NAMESPACE
