// matmul(): y = x @ w^T for every native weight type. Up to a type's kVecMaxTokens tokens
// (cuda_types.cuh says why 8) the matrix-vector kernel reads the weights once (decode);
// beyond, cuBLAS's tensor-core GEMM does the work (prompts): F16 weights as they are, F32
// in full precision, every other type dequantized to F16 in row tiles of at most
// kTileBytes in Scratch, the activations converted to F16 once per call. HIP builds have no
// BLAS (gpu_runtime.h): there the same calls go to tiled_gemm_kernel below, a plain
// shared-memory tiled GEMM (correct everywhere, far from a tuned BLAS).
#include <algorithm>
#include <string>
#include <type_traits>

#include "cuda_types.cuh"
#include "device.h"
#include "gpu_runtime.h"
#include "matmul_kernels.h"
#include "tern/error.h"

namespace tern::cuda {
namespace {

// The F16 weight tile of the GEMM path: bounds Scratch (a 128k-vocab output matrix would
// take 1 GiB as F16 at once); 64 MiB tiles are still thousands of rows, large GEMMs.
constexpr size_t kTileBytes = size_t{64} << 20;
constexpr size_t kScratchAlign = 256;

size_t align_up(size_t n) { return (n + kScratchAlign - 1) / kScratchAlign * kScratchAlign; }

int vec_max_tokens(TensorType type) {
  int n = 0;
  visit_block(type, true, [&](auto block) { n = BlockGeometry<decltype(block)>::kVecMaxTokens; });
  return n;
}

#ifdef TERN_HIP
constexpr int kGemmTile = 16;

// y [n, ldy] = x [n, k] @ a^T for a [m, lda]: one kGemmTile x kGemmTile tile of y per block,
// both operands staged through shared memory, float sums.
template <typename T>
__global__ void tiled_gemm_kernel(const T* a, int64_t lda, int64_t m, const T* x, int64_t n,
                                  int64_t k, float* y, int64_t ldy) {
  __shared__ float as[kGemmTile][kGemmTile + 1];
  __shared__ float xs[kGemmTile][kGemmTile + 1];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int64_t row = int64_t{blockIdx.x} * kGemmTile + tx;  // of a (y's column)
  const int64_t tok = int64_t{blockIdx.y} * kGemmTile + ty;  // of x (y's row)
  float sum = 0.0f;
  for (int64_t k0 = 0; k0 < k; k0 += kGemmTile) {
    const int64_t ar = int64_t{blockIdx.x} * kGemmTile + ty, kk = k0 + tx;
    as[ty][tx] = ar < m && kk < k ? static_cast<float>(a[ar * lda + kk]) : 0.0f;
    xs[ty][tx] = tok < n && kk < k ? static_cast<float>(x[tok * k + kk]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kGemmTile; ++j) sum += as[tx][j] * xs[ty][j];
    __syncthreads();
  }
  if (row < m && tok < n) y[tok * ldy + row] = sum;
}

template <typename T>
void gemm(const T* a, int64_t lda, int64_t m, const T* x, int64_t n, int64_t k, float* y,
          int64_t ldy, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((m + kGemmTile - 1) / kGemmTile),
                  static_cast<unsigned>((n + kGemmTile - 1) / kGemmTile));
  tiled_gemm_kernel<T><<<grid, dim3(kGemmTile, kGemmTile), 0, stream>>>(a, lda, m, x, n, k, y, ldy);
  check_launch("tiled_gemm_kernel");
}
#else
// y [n, ldy] (row-major) = x [n, k] @ a^T, a [m, lda] row-major, all of T but y (F32).
// cuBLAS is column-major: y^T (m x n, ld ldy) = op_T(a^T as k x m, ld lda) * x^T (k x n).
template <typename T>
void gemm(const T* a, int64_t lda, int64_t m, const T* x, int64_t n, int64_t k, float* y,
          int64_t ldy, BlasHandle cublas, cudaStream_t stream) {
  constexpr bool f32 = std::is_same_v<T, float>;
  const cudaDataType type = f32 ? CUDA_R_32F : CUDA_R_16F;
  const float one = 1.0f, zero = 0.0f;
  check(cublasSetStream(cublas, stream), "cublasSetStream");
  check(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n),
                     static_cast<int>(k), &one, a, type, static_cast<int>(lda), x, type,
                     static_cast<int>(k), &zero, y, CUDA_R_32F, static_cast<int>(ldy),
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
}
#endif

void matmul_gemm(const DeviceMatrix& w, const float* x, float* y, int64_t n_tokens,
                 Scratch& scratch, [[maybe_unused]] BlasHandle cublas, cudaStream_t stream) {
#ifdef TERN_HIP
  auto run = [&](const auto* a, int64_t lda, int64_t m, const auto* xs, float* out) {
    gemm(a, lda, m, xs, n_tokens, w.cols, out, w.rows, stream);
  };
#else
  auto run = [&](const auto* a, int64_t lda, int64_t m, const auto* xs, float* out) {
    gemm(a, lda, m, xs, n_tokens, w.cols, out, w.rows, cublas, stream);
  };
#endif
  if (w.type == TensorType::F32) {
    run(static_cast<const float*>(w.data), static_cast<int64_t>(w.row_bytes / 4), w.rows, x, y);
    return;
  }
  const size_t x_bytes = align_up(static_cast<size_t>(n_tokens * w.cols) * sizeof(__half));
  const int64_t row_f16_bytes = w.cols * static_cast<int64_t>(sizeof(__half));
  const int64_t tile_rows =
      w.type == TensorType::F16
          ? 0
          : std::clamp(static_cast<int64_t>(kTileBytes) / row_f16_bytes, int64_t{1}, w.rows);
  auto* base = static_cast<char*>(
      scratch.get(x_bytes + static_cast<size_t>(tile_rows * row_f16_bytes), stream));
  auto* x16 = reinterpret_cast<__half*>(base);
  const DeviceMatrix x_matrix{TensorType::F32, x, n_tokens, w.cols,
                              static_cast<size_t>(w.cols) * sizeof(float)};
  dequantize_f16(x_matrix, 0, n_tokens, x16, stream);
  if (w.type == TensorType::F16) {
    run(static_cast<const __half*>(w.data), static_cast<int64_t>(w.row_bytes / 2), w.rows, x16, y);
    return;
  }
  auto* w16 = reinterpret_cast<__half*>(base + x_bytes);
  for (int64_t r0 = 0; r0 < w.rows; r0 += tile_rows) {
    const int64_t n_rows = std::min(tile_rows, w.rows - r0);
    dequantize_f16(w, r0, n_rows, w16, stream);
    run(static_cast<const __half*>(w16), w.cols, n_rows, static_cast<const __half*>(x16), y + r0);
  }
}

}  // namespace

bool has_native_kernel(TensorType type) {
  return visit_block(type, true, [](auto) {});
}

void check_matrix(const DeviceMatrix& w, const char* op) {
  const std::string what = std::string("cuda ") + op + ": " +
                           std::string(type_traits(w.type).name) + " matrix [" +
                           std::to_string(w.rows) + ", " + std::to_string(w.cols) + "]";
  if (!has_native_kernel(w.type)) throw Error(what + " has no native kernel");
  if (w.rows < 0 || w.cols < 0 || w.row_bytes < checked_row_bytes(w.type, w.cols)) {
    throw Error(what + ": row stride of " + std::to_string(w.row_bytes) + " bytes is too short");
  }
  // Quantized rows are read in 16- or 32-bit words (see kBlockAlign): the data must be
  // aligned like cudaMalloc'ed memory and rows must keep that alignment.
  visit_block(w.type, plain_by8(w), [&](auto block) {
    using Block = decltype(block);
    if constexpr (BlockGeometry<Block>::kQuantized) {
      if (reinterpret_cast<uintptr_t>(w.data) % 16 != 0 || w.row_bytes % kBlockAlign<Block> != 0) {
        throw Error(what + ": data or row stride not aligned for the kernels' loads");
      }
    }
  });
}

void matmul(const DeviceMatrix& w, const float* x, float* y, int64_t n_tokens, Scratch& scratch,
            BlasHandle cublas, cudaStream_t stream) {
  check_matrix(w, "matmul");
  if (n_tokens <= 0 || w.rows == 0) return;
  if (w.cols == 0) {  // empty sums
    check(cudaMemsetAsync(y, 0, static_cast<size_t>(n_tokens * w.rows) * sizeof(float), stream),
          "cudaMemsetAsync");
    return;
  }
  if (n_tokens <= vec_max_tokens(w.type)) {
    matmul_vec(w, x, y, n_tokens, scratch, stream);
  } else {
    matmul_gemm(w, x, y, n_tokens, scratch, cublas, stream);
  }
}

}  // namespace tern::cuda
