// Helpers of the x86 SIMD kernel bodies (row_kernels.h, row_kernels_legacy.h,
// row_kernels_kquant.h, repack.h and packed_gemm.h of this folder): reductions, loads,
// prefetch, byte dot products, nibble and bit unpacking. Expanded per level like them,
// inside TERN_SIMD_NAMESPACE and an anonymous namespace (see row_kernels.h).
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/simd_helpers.h"
#endif
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

constexpr int kMaxRows = 4;  // activation rows per call (type_kernels.h: kMaxDotRows)

inline float f16(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int hsum_i32(__m128i h) {
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
  return _mm_cvtsi128_si32(h);
}

inline int hsum_i32(__m256i v) {
  return hsum_i32(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Software prefetch of `bytes` bytes at p into L1 (or, with _MM_HINT_T2, into L2). Decode
// streams its weight rows once: each kernel fetches the rows after its own at the pace it
// consumes them (the hardware prefetcher alone leaves the stream waiting on DRAM: measured
// 7 -> 12 GB/s for Q4_0).
template <size_t kBytes, int kHint = _MM_HINT_T0>
void prefetch(const void* p) {
#pragma GCC unroll 32  // the loop's own instructions showed in the K-quant profiles (19 lines)
  for (size_t o = 0; o < kBytes; o += 64) {
    _mm_prefetch(static_cast<const char*>(p) + o, static_cast<_mm_hint>(kHint));
  }
}

// Block i of the row that follows the nb-block row wb (weight rows are contiguous).
template <typename Block>
void prefetch_next_row(const Block* wb, int64_t nb, int64_t i) {
  prefetch<sizeof(Block)>(wb + nb + i);
}

// Whether dot_u8_i8 is one instruction (AVX512-VNNI's vpdpbusd) rather than a vpmaddubsw,
// whose int16 pair sums callers may add up before widening, plus the widening.
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
constexpr bool kVnniDot = true;
#else
constexpr bool kVnniDot = false;
#endif

// Marks a running sum as rewritten here (an empty asm), so its additions stay one chain in
// program order. Integer vector adds are associative, and GCC's reassociation turned the
// decode kernels' chains (a vpmaddubsw product added per step) into trees over all of a
// block's products, which left more values live than the 16 registers hold: the products
// went through the stack (the AVX2 four-row Q4_1 kernel stored 13 of them a block). The
// sums are the same in any order, so this changes no result.
inline void keep_chain(__m256i& sum) { __asm__("" : "+x"(sum)); }

// acc + u (unsigned bytes) . s (signed bytes), summed per 4 bytes: 8 int32.
inline __m256i add_dot_u8_i8(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// u . s alone.
inline __m256i dot_u8_i8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// 4 bytes repeated in every 32-bit lane (4 activation bytes against 8 rows' 4 values).
inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// u . s in pairs, each 16-bit pair sum times its 16-bit scale, summed per 4 bytes.
inline __m256i scaled_dot(__m256i u, __m256i s, __m256i scales16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scales16);
}

// Byte i of the result is 0xff where bit i of `bits` is set.
inline __m256i expand_bits(uint32_t bits) {
  const __m256i shuffle = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                            0x0101010101010101, 0x0000000000000000);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuffle);
  const __m256i bit_mask = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  bytes = _mm256_or_si256(bytes, bit_mask);
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles first, then high nibbles (the Q4_0 order).
// The bytes go to both 128-bit lanes (a load, no shuffle); the upper lane is shifted by 4.
inline __m256i nibbles_32(const uint8_t* p) {
  __m256i v = _mm256_broadcastsi128_si256(load128(p));
  __m256i shifted = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
  return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0f));
}

inline const uint8_t* offset_bytes(const void* p, int64_t rows, size_t stride) {
  return static_cast<const uint8_t*>(p) + stride * static_cast<size_t>(rows);
}

template <typename Block>
const Block& act(const void* x, size_t stride, int j, int64_t i) {
  return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(x) + stride * j)[i];
}

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Calls tile.template operator()<G>(start) over [0, count) in groups of G = kGroup, then
// once with the remainder (kGroup <= 4): the group size is a template argument so the
// kernels keep their accumulators in registers.
template <int kGroup, typename Tile>
void in_groups(int64_t count, const Tile& tile) {
  static_assert(kGroup <= 4);
  int64_t start = 0;
  for (; start + kGroup <= count; start += kGroup) tile.template operator()<kGroup>(start);
  switch (count - start) {
    case 3:
      if constexpr (kGroup > 3) tile.template operator()<3>(start);
      break;
    case 2:
      if constexpr (kGroup > 2) tile.template operator()<2>(start);
      break;
    case 1:
      if constexpr (kGroup > 1) tile.template operator()<1>(start);
      break;
    default:
      break;
  }
}

}  // namespace

}  // namespace tern::TERN_SIMD_NAMESPACE
