// Fast CPU kernels per x86 SIMD level, registered in the type table (type_table.cpp).
// Each level's definitions live in their own translation unit compiled with that level's
// flags (simd_kernels_avx2.cpp, simd_kernels_avx512.cpp); both expand the one body in
// simd_kernels_x86.h. Signatures: DotFn and FromFloatFn of type_table.h.
#pragma once

#include <cstddef>
#include <cstdint>

// One declaration list for every level (the levels differ in flags, not in kernels).
#define TERN_SIMD_KERNEL_DECLARATIONS                                                             \
  void dot_f32(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);    \
  void dot_f16(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);    \
  void dot_bf16(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_q4_0(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_q4_1(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_q5_0(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_q5_1(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_q8_0(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_iq4_nl(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out); \
  void dot_q2_k(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_q3_k(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_q4_k(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_q5_k(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_q6_k(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out);   \
  void dot_iq4_xs(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out); \
  void dot2_q4_0(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride, int n_x, float* y, int64_t y_stride); \
  void dot2_q4_1(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride, int n_x, float* y, int64_t y_stride); \
  void dot2_q5_0(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride, int n_x, float* y, int64_t y_stride); \
  void dot2_q5_1(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride, int n_x, float* y, int64_t y_stride); \
  void dot2_q8_0(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride, int n_x, float* y, int64_t y_stride); \
  void dot2_iq4_nl(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride, int n_x, float* y, int64_t y_stride); \
  void quantize_q8_0(const float* in, void* blocks, int64_t n);                                   \
  void quantize_q8_1(const float* in, void* blocks, int64_t n);                                   \
  void quantize_q8_k(const float* in, void* blocks, int64_t n);

namespace tern::avx2 {
TERN_SIMD_KERNEL_DECLARATIONS
}  // namespace tern::avx2

namespace tern::avx512 {
TERN_SIMD_KERNEL_DECLARATIONS
}  // namespace tern::avx512
