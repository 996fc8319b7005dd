// Fast CPU kernels per x86 SIMD level, registered in the CPU type table (type_kernels.cpp).
// Each level's definitions live in their own translation unit compiled with that level's
// flags (x86/row_kernels_avx2.cpp, x86/row_kernels_avx512.cpp); both expand the one body
// in x86/row_kernels.h (which includes x86/row_kernels_legacy.h and
// x86/row_kernels_kquant.h). Signatures: DotFn, DotRowsFn, DotTileFn of type_kernels.h and
// FromFloatFn of types/type_table.h.
#pragma once

#include <cstddef>
#include <cstdint>

// A weight type's dot kernels: DotFn (dot_T) and DotRowsFn (dot_T_rows).
#define TERN_SIMD_DOT_DECLARATIONS(type)                                                          \
  void dot_##type(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out); \
  void dot_##type##_rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,   \
                         float* y);
// A type with a prompt tile (DotTileFn) too: the float and legacy types.
#define TERN_SIMD_TILE_DECLARATIONS(type)                                                         \
  TERN_SIMD_DOT_DECLARATIONS(type)                                                                \
  void dot_tile_##type(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride, \
                       int n_x, float* y, int64_t y_stride);

// One declaration list for every level (the levels differ in flags, not in kernels).
#define TERN_SIMD_KERNEL_DECLARATIONS                           \
  TERN_SIMD_TILE_DECLARATIONS(f32)                              \
  TERN_SIMD_TILE_DECLARATIONS(f16)                              \
  TERN_SIMD_TILE_DECLARATIONS(bf16)                             \
  TERN_SIMD_TILE_DECLARATIONS(q4_0)                             \
  TERN_SIMD_TILE_DECLARATIONS(q4_1)                             \
  TERN_SIMD_TILE_DECLARATIONS(q5_0)                             \
  TERN_SIMD_TILE_DECLARATIONS(q5_1)                             \
  TERN_SIMD_TILE_DECLARATIONS(q8_0)                             \
  TERN_SIMD_TILE_DECLARATIONS(iq4_nl)                           \
  TERN_SIMD_TILE_DECLARATIONS(mxfp4)                            \
  TERN_SIMD_DOT_DECLARATIONS(q2_k)                              \
  TERN_SIMD_DOT_DECLARATIONS(q3_k)                              \
  TERN_SIMD_DOT_DECLARATIONS(q4_k)                              \
  TERN_SIMD_DOT_DECLARATIONS(q5_k)                              \
  TERN_SIMD_DOT_DECLARATIONS(q6_k)                              \
  TERN_SIMD_DOT_DECLARATIONS(iq4_xs)                            \
  void quantize_q8_0(const float* in, void* blocks, int64_t n); \
  void quantize_q8_1(const float* in, void* blocks, int64_t n); \
  void quantize_q8_k(const float* in, void* blocks, int64_t n);

// Weight rows of the float types' prompt tiles (the legacy types' take 2): with AVX512's 32
// registers, 4 rows x 4 tokens of accumulators; AVX2's 16 hold 2 x 4 (3 x 4 measured slower:
// bench_kernels matmul/F16/avx2/128, Zen 4, 39 -> 30 GMAC/s).
namespace tern::avx2 {
inline constexpr int kFloatTileRows = 2;
TERN_SIMD_KERNEL_DECLARATIONS
}  // namespace tern::avx2

namespace tern::avx512 {
inline constexpr int kFloatTileRows = 4;
TERN_SIMD_KERNEL_DECLARATIONS
}  // namespace tern::avx512
