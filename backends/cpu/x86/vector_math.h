// Vectorized e^x and partial-vector helpers shared by the x86 SIMD bodies of the CPU ops
// (attention.h, elementwise.h of this folder). Like row_kernels.h, it is expanded inside
// each level's namespace (TERN_SIMD_NAMESPACE) and an anonymous one, so no inline function
// compiled with one level's flags can be picked by the linker for another level.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/vector_math.h"
#endif
// Once per translation unit (each expands one level).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace tern::cpu::TERN_SIMD_NAMESPACE {

namespace {

constexpr int64_t kLanes = 8;  // floats per __m256

// Lanes [0, n) all ones, the rest zero (n in [0, 8]): the mask of a partial vector.
__m256i lane_mask(int64_t n) {
  const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), index);
}

// Eight floats from p, or the first n < 8 of them and zeros (never reads past p + n).
__m256 load_part(const float* p, int64_t n) {
  return n >= kLanes ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(n));
}

// Stores the first min(n, 8) lanes of v at p.
void store_part(float* p, __m256 v, int64_t n) {
  if (n >= kLanes) {
    _mm256_storeu_ps(p, v);
  } else {
    _mm256_maskstore_ps(p, lane_mask(n), v);
  }
}

// 2^e for integer lanes e in [-126, 127], built in the exponent field.
__m256 pow2(__m256i e) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
}

// e^x per lane. x = n ln2 + r with |r| <= ln2 / 2; e^r = 1 + r + r^2 P(r) with the
// degree-5 minimax P of Cephes' expf (about 1 ulp); 2^n is applied as 2^(n/2) twice so
// neither factor leaves the normal range: results between ~1e-45 and FLT_MIN come out as
// correctly scaled denormals, x < ~-103.9 gives 0, x > ~88.72 gives inf, NaN stays NaN.
// The clamps keep n within [-159, 128] (both halves normal); ln2 is split in a short high
// part (n * hi is exact) and the rest. exp8 and exp16 take the same steps per lane.
constexpr float kExpMax = 89.0f, kExpMin = -110.0f, kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f, kLn2Low = -2.12194440e-4f;
constexpr float kExpPoly[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                              4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

__m256 exp8(__m256 x) {
  // The constant is the clamps' first operand so a NaN x passes through.
  x = _mm256_min_ps(_mm256_set1_ps(kExpMax), _mm256_max_ps(_mm256_set1_ps(kExpMin), x));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), r);
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i ni = _mm256_cvtps_epi32(n);
  __m256i n_half = _mm256_srai_epi32(ni, 1);
  return _mm256_mul_ps(_mm256_mul_ps(p, pow2(n_half)), pow2(_mm256_sub_epi32(ni, n_half)));
}

#if defined(__AVX512F__)
// exp8 on 16 lanes. (The zero-masked forms: GCC 12's plain ones start from an undefined
// vector and fail -Werror.)
[[maybe_unused]] __m512 pow2(__m512i e) {
  return _mm512_castsi512_ps(
      _mm512_maskz_slli_epi32(0xffff, _mm512_add_epi32(e, _mm512_set1_epi32(127)), 23));
}
[[maybe_unused]] __m512 exp16(__m512 x) {
  constexpr __mmask16 kAll = 0xffff;
  x = _mm512_maskz_min_ps(kAll, _mm512_set1_ps(kExpMax),
                          _mm512_maskz_max_ps(kAll, _mm512_set1_ps(kExpMin), x));
  __m512 n = _mm512_maskz_roundscale_ps(kAll, _mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2High), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Low), r);
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[i]));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  __m512i ni = _mm512_maskz_cvtps_epi32(kAll, n);
  __m512i n_half = _mm512_maskz_srai_epi32(kAll, ni, 1);
  return _mm512_mul_ps(_mm512_mul_ps(p, pow2(n_half)), pow2(_mm512_sub_epi32(ni, n_half)));
}
#endif

}  // namespace

}  // namespace tern::cpu::TERN_SIMD_NAMESPACE
