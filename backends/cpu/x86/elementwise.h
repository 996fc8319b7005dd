// The x86 SIMD bodies of the elementwise ops (elementwise.h), expanded once per level by
// elementwise_<level>.cpp with TERN_SIMD_NAMESPACE set and that level's flags.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/elementwise.h"
#endif

#include "backends/cpu/elementwise.h"
#include "backends/cpu/reference_kernels.h"
#include "backends/cpu/x86/vector_math.h"
#include "types/float_types.h"

namespace tern::cpu::TERN_SIMD_NAMESPACE {

namespace {

// x * sigmoid(t) = x / (1 + e^-t): silu is t = x; tanh-GELU is t = 2u, since
// 0.5 (1 + tanh(u)) = sigmoid(2u). No cancellation anywhere; e^-t = inf gives -0 or 0 as
// the reference formulas do.
__m256 times_sigmoid(__m256 x, __m256 t) {
  __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), t));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

__m256 silu8(__m256 x) { return times_sigmoid(x, x); }

// gelu_tanh(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
__m256 gelu_tanh8(__m256 x) {
  __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
  __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                           _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
  return times_sigmoid(x, _mm256_add_ps(u, u));
}

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)): x (1 - erfc(z) / 2) for x >= 0, x erfc(z) / 2 below,
// z = |x| / sqrt 2, so the negative tail takes no cancellation. erfc(z) = t e^(P(t) - z^2)
// with t = 1 / (1 + z / 2) and P the degree-9 Chebyshev fit of Numerical Recipes' erfcc
// (relative error below 1.2e-7 for every z >= 0).
constexpr float kErfcPoly[] = {0.17087277f,  -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                               -0.18628806f, 0.09678418f,  0.37409196f, 1.00002368f,  -1.26551223f};
__m256 gelu8(__m256 x) {
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x),
                                 _mm256_set1_ps(0.70710678118654752f));
  const __m256 t =
      _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(half, z, _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(kErfcPoly[0]);
  for (int i = 1; i < 10; ++i) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kErfcPoly[i]));
  const __m256 half_erfc = _mm256_mul_ps(_mm256_mul_ps(half, t), exp8(_mm256_fnmadd_ps(z, z, p)));
  const __m256 below = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 factor =
      _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), half_erfc), half_erfc, below);
  return _mm256_mul_ps(x, factor);
}

// out[i] = f(a[i], b[i]) over n values, eight at a time, the last partial vector masked.
template <class F>
void map2(const float* a, const float* b, int64_t n, float* out, F f) {
  for (int64_t i = 0; i < n; i += kLanes) {
    store_part(out + i, f(load_part(a + i, n - i), load_part(b + i, n - i)), n - i);
  }
}

}  // namespace

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  map2(gate, up, n, out, [](__m256 g, __m256 u) { return _mm256_mul_ps(silu8(g), u); });
}

void geglu(const float* gate, const float* up, int64_t n, float* out) {
  map2(gate, up, n, out, [](__m256 g, __m256 u) { return _mm256_mul_ps(gelu_tanh8(g), u); });
}

// g sigmoid(alpha g) (u + 1) with g = min(gate, limit), u = clamp(up, -limit, limit).
void swiglu_oai(const float* gate, const float* up, int64_t n, float alpha, float limit,
                float* out) {
  const __m256 a = _mm256_set1_ps(alpha), hi = _mm256_set1_ps(limit), lo = _mm256_set1_ps(-limit),
               one = _mm256_set1_ps(1.0f);
  map2(gate, up, n, out, [&](__m256 g, __m256 u) {
    g = _mm256_min_ps(hi, g);  // a NaN operand passes through, as in std::min and std::clamp
    u = _mm256_max_ps(lo, _mm256_min_ps(hi, u));
    return _mm256_mul_ps(times_sigmoid(g, _mm256_mul_ps(a, g)), _mm256_add_ps(u, one));
  });
}

void gelu(const float* x, int64_t n, float* out) {
  map2(x, x, n, out, [](__m256 v, __m256) { return gelu8(v); });
}

void exp_values(const float* x, int64_t n, float* out) {
  map2(x, x, n, out, [](__m256 v, __m256) { return exp8(v); });
}

// The squares summed in double (exact products) in two vector accumulators; the
// reference's one serial double sum made the op ~10x slower than its memory traffic.
void rms_norm(const float* x, const float* w, int64_t group, int64_t n_values, float eps,
              float* out) {
  for (int64_t g = 0; g < n_values; g += group) {
    const float* xg = x + g;
    __m256d acc[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    int64_t i = 0;
    for (; i + kLanes <= group; i += kLanes) {
      const __m256 v = _mm256_loadu_ps(xg + i);
      const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
      const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
      acc[0] = _mm256_fmadd_pd(lo, lo, acc[0]);
      acc[1] = _mm256_fmadd_pd(hi, hi, acc[1]);
    }
    const __m256d both = _mm256_add_pd(acc[0], acc[1]);
    const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(both), _mm256_extractf128_pd(both, 1));
    double sum_sq = _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
    for (; i < group; ++i) sum_sq += double{xg[i]} * xg[i];
    // x * inv, then * w: the reference's two roundings.
    const __m256 scale = _mm256_set1_ps(rms_scale(sum_sq, group, eps));
    for (i = 0; i < group; i += kLanes) {
      const int64_t n = group - i;
      __m256 y = _mm256_mul_ps(load_part(xg + i, n), scale);
      if (w != nullptr) y = _mm256_mul_ps(y, load_part(w + i, n));
      store_part(out + g + i, y, n);
    }
  }
}

// F16C's conversion with the rounding in the instruction (nearest even, whatever MXCSR
// says): the bits f32_to_f16 gives for every non-NaN value, subnormals included.
void to_f16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = f32_to_f16(x[i]);
}

}  // namespace tern::cpu::TERN_SIMD_NAMESPACE
