// SIMD elementwise ops of the CPU backend: the activations (swiglu, geglu, gelu), e^x and
// RMS normalization, per x86 level (x86/elementwise.h, expanded in elementwise_avx2.cpp and
// elementwise_avx512.cpp), chosen by cpu::Isa. They match the scalar reference kernels
// (reference_kernels.h) to a few float ulps; tests/test_attention_simd.cpp states how
// closely.
#pragma once

#include <cstdint>

#include "backends/cpu/cpu_features.h"

namespace tern::cpu {

/// out = silu(gate) * up, elementwise over n values, with `isa`'s kernel (not Scalar).
void simd_swiglu(const float* gate, const float* up, int64_t n, float* out, Isa isa);

/// out = gelu_tanh(gate) * up, elementwise over n values, with `isa`'s kernel (not Scalar).
void simd_geglu(const float* gate, const float* up, int64_t n, float* out, Isa isa);

/// gpt-oss's clamped SwiGLU (graph::SwiGluOaiParams) over n values, with `isa`'s kernel
/// (not Scalar).
void simd_swiglu_oai(const float* gate, const float* up, int64_t n, float alpha, float limit,
                     float* out, Isa isa);

/// out = gelu(x) = 0.5 x (1 + erf(x / sqrt 2)) over n values, with `isa`'s kernel (not
/// Scalar): the encoders' feed-forward. Within a few float ulps of the exact value; where
/// x < -4 or so, closer than the reference's 1 + erf (which loses the tail to cancellation).
void simd_gelu(const float* x, int64_t n, float* out, Isa isa);

/// out = e^x over n values: the vectorized exp the attention softmax and the activations
/// use (relative error ~1e-7 for normal results; 0 for x below ~-103.9).
void simd_exp(const float* x, int64_t n, float* out, Isa isa);

/// out = x rounded to F16 (the bits of f32_to_f16 for every value but NaN, which stays a
/// NaN), with `isa`'s kernel (not Scalar): the cache append of an F16 KV cache.
void simd_to_f16(const float* x, int64_t n, uint16_t* out, Isa isa);

/// As the reference rms_norm (reference_kernels.h): each group of `group` values times
/// 1 / sqrt(mean square + eps), then times w (null: 1), with `isa`'s kernel (not Scalar).
/// The sum of squares is taken in double as there, in another order: the scale may differ
/// from the reference's in its last bit.
void simd_rms_norm(const float* x, const float* w, int64_t group, int64_t n_values, float eps,
                   float* out, Isa isa);

// Per level (one declaration list, expanded for each).
#define TERN_ELEMENTWISE_DECLARATIONS                                                       \
  void swiglu(const float* gate, const float* up, int64_t n, float* out);                   \
  void geglu(const float* gate, const float* up, int64_t n, float* out);                    \
  void swiglu_oai(const float* gate, const float* up, int64_t n, float alpha, float limit,  \
                  float* out);                                                              \
  void gelu(const float* x, int64_t n, float* out);                                         \
  void exp_values(const float* x, int64_t n, float* out);                                   \
  void rms_norm(const float* x, const float* w, int64_t group, int64_t n_values, float eps, \
                float* out);                                                                \
  void to_f16(const float* x, int64_t n, uint16_t* out);

namespace avx2 {
TERN_ELEMENTWISE_DECLARATIONS
}  // namespace avx2

namespace avx512 {
TERN_ELEMENTWISE_DECLARATIONS
}  // namespace avx512

#undef TERN_ELEMENTWISE_DECLARATIONS

}  // namespace tern::cpu
