// The launchers behind matmul() and get_rows(), one .cu file each, and what they share:
// ops_matmul.cu picks between matmul_vec (matmul_vec.cu) and dequantize_f16
// (dequant_f16.cu) + cuBLAS. Internal to the CUDA backend.
#pragma once

#include <cstdint>

#include "gpu_runtime.h"
#include "matmul.h"

namespace tern::cuda {

/// Whether a plain (F32/F16/BF16) matrix can be read 8 values at a time with 16-byte loads:
/// rows of a multiple of 8 values, data and row stride 16-byte aligned.
inline bool plain_by8(const DeviceMatrix& w) {
  return w.cols % 8 == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0 && w.row_bytes % 16 == 0;
}

/// Throws tern::Error naming `op` unless the kernels can read w: a native type, rows of
/// whole blocks at least row_bytes long, data aligned for the kernels' loads (ops_matmul.cu).
void check_matrix(const DeviceMatrix& w, const char* op);

/// y [n_tokens, w.rows] = x [n_tokens, w.cols] @ w^T with the matrix-vector kernel: up to
/// kMaxVecTokens tokens per pass over the weights (more tokens take more passes).
/// Quantized weights: x is first quantized to 8-bit blocks in `scratch`.
void matmul_vec(const DeviceMatrix& w, const float* x, float* y, int64_t n_tokens, Scratch& scratch,
                cudaStream_t stream);

/// out [n_rows, w.cols] (dense F16) = rows row0 .. row0 + n_rows of w, dequantized.
void dequantize_f16(const DeviceMatrix& w, int64_t row0, int64_t n_rows, __half* out,
                    cudaStream_t stream);

}  // namespace tern::cuda
