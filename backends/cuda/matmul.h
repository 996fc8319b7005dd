// Matrix products and row lookups over weights on the device, for every weight type the
// CUDA backend keeps: the kernels' side of the contract with the backend (ops_matmul.cu
// and its siblings implement it; cuda_backend.cpp and the weight store call it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "gpu_runtime.h"
#include "types/type_table.h"

namespace tern::cuda {

/// A weight matrix on the device: `rows` rows of `cols` values of `type`, `row_bytes`
/// apart (blocks exactly as in the GGUF file, or F16/F32 values).
struct DeviceMatrix {
  TensorType type = TensorType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};

/// Whether matmul() and get_rows() read `type` as stored in the file. Weights of other
/// types the type table can convert are uploaded as F16 instead.
bool has_native_kernel(TensorType type);

/// Device memory one stream's kernels borrow between launches (8-bit activations, F16
/// copies of weight tiles for cuBLAS). Grows on demand; never shrinks.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch();
  /// At least `bytes` of device memory, valid until the next call. Growing waits for
  /// `stream` first, so kernels still using the old block finish before it is freed.
  void* get(size_t bytes, cudaStream_t stream);
  /// Changes whenever get() reallocates: launches captured before then point at freed
  /// memory.
  uint64_t generation() const { return generation_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  uint64_t generation_ = 0;
};

/// y [n_tokens, w.rows] = x [n_tokens, w.cols] @ w^T, enqueued on `stream`. x and y are
/// device F32 rows, densely packed.
void matmul(const DeviceMatrix& w, const float* x, float* y, int64_t n_tokens, Scratch& scratch,
            BlasHandle cublas, cudaStream_t stream);

/// Mixture-of-experts products: w stacks n_expert matrices of w.rows / n_expert rows; row
/// i = t * n_used + j of y [n_tokens * n_used, w.rows / n_expert] is expert route[t][n_used
/// + j]'s matrix times x's row i (x_rows = n_tokens * n_used) or t (x_rows = n_tokens).
/// One warp per output row and pair: each pair reads its expert's rows (no grouping by
/// expert yet, so prompts reread an expert's weights once per token that chose it).
void expert_matmul(const DeviceMatrix& w, int n_expert, const float* x, int64_t x_rows,
                   const float* route, int64_t n_tokens, int n_used, float* y, Scratch& scratch,
                   cudaStream_t stream);

/// out [n, w.cols] = rows ids[0..n) of w as F32; ids are device int32, already checked to
/// lie in [0, w.rows).
void get_rows(const DeviceMatrix& w, const int32_t* ids, float* out, int64_t n,
              cudaStream_t stream);

}  // namespace tern::cuda
