// Matrix products over quantized weights with the row kernels of the CPU type table:
// activations are quantized once to the weight type's vec_dot_type, then each thread
// takes blocks of weight rows and runs them against every activation row, up to
// kMaxDotRows at a time (one pass over a weight row serves several tokens). One token
// (decoding) goes through the dot_rows kernels: several weight rows per pass over the
// activation row, in longer tasks, bound by memory bandwidth rather than by the kernels.
#pragma once

#include <cstdint>
#include <span>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/type_kernels.h"
#include "types/type_table.h"

namespace tern::cpu {

/// Whether simd_matmul can run weights of `type` at `isa`.
bool has_simd_matmul(TensorType type, Isa isa);

/// W (rows, cols) @ x (n, cols) -> y (n, rows), as cpu::matmul, with `isa`'s kernels.
/// Requires has_simd_matmul(type, isa).
void simd_matmul(TensorType type, const void* w, int64_t rows, int64_t cols, const float* x,
                 int64_t n, float* y, int n_threads, Isa isa);

/// One product of simd_matmuls: W (rows, cols) of `type` -> y (n, rows). `packed`, when
/// set, is W's interleaved form (repack.h), which the decode kernels (n == 1) and the
/// packed GEMM read instead of w.
struct MatmulTarget {
  TensorType type;
  const void* w;
  int64_t rows;
  float* y;
  const void* packed = nullptr;
};

/// Several products of the same activations x (n, cols), e.g. q/k/v or gate/up: x is
/// quantized once and every target's rows are spread over one pool job (one fork/join
/// instead of one per product). The targets' types must share a vec_dot_type and each
/// satisfy has_simd_matmul.
void simd_matmuls(std::span<const MatmulTarget> targets, int64_t cols, const float* x, int64_t n,
                  int n_threads, Isa isa);

/// x (n, cols) floats -> n rows of `type` (an activation format) with `isa`'s quantizer,
/// row i at out + i * row_bytes(type, cols). F32 is copied.
void quantize_rows(TensorType type, const float* x, int64_t n, int64_t cols, void* out,
                   int n_threads, Isa isa);

}  // namespace tern::cpu
