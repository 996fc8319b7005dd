// Dequantization of weight rows to dense F16, the operand cuBLAS's tensor-core GEMM reads
// for prompts (and the F32 -> F16 conversion of activations, as a plain F32 "matrix").
// One thread per kChunkValues values, stored as one 16-byte vector when there are 8.
#include "cuda_types.cuh"
#include "device.h"
#include "kernel_util.cuh"
#include "matmul_kernels.h"

namespace tern::cuda {
namespace {

struct alignas(16) Half8 {
  __half h[8];
};

// out [n_rows, chunks_per_row * kChunk] from rows of w starting at `w` (row0 applied).
template <typename Block>
__global__ void dequant_f16_kernel(const uint8_t* __restrict__ w, size_t row_bytes,
                                   int64_t chunks_per_row, int64_t n_chunks,
                                   __half* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_chunks) return;
  constexpr int kChunk = kChunkValues<Block>;
  const int64_t r = i / chunks_per_row;
  float v[kChunk];
  dequant_chunk(reinterpret_cast<const Block*>(w + r * row_bytes), i % chunks_per_row, v);
  if constexpr (kChunk == 8) {
    Half8 packed;
#pragma unroll
    for (int k = 0; k < 8; ++k) packed.h[k] = __float2half_rn(v[k]);
    reinterpret_cast<Half8*>(out)[i] = packed;
  } else {
    for (int k = 0; k < kChunk; ++k) out[i * kChunk + k] = __float2half_rn(v[k]);
  }
}

}  // namespace

void dequantize_f16(const DeviceMatrix& w, int64_t row0, int64_t n_rows, __half* out,
                    cudaStream_t stream) {
  if (n_rows <= 0) return;
  visit_block(w.type, plain_by8(w), [&](auto block) {
    using Block = decltype(block);
    const int64_t chunks_per_row = w.cols / kChunkValues<Block>;
    const int64_t n_chunks = n_rows * chunks_per_row;
    dequant_f16_kernel<Block><<<elementwise_blocks(n_chunks), kElementwiseThreads, 0, stream>>>(
        static_cast<const uint8_t*>(w.data) + row0 * w.row_bytes, w.row_bytes, chunks_per_row,
        n_chunks, out);
  });
  check_launch("dequantize_f16");
}

}  // namespace tern::cuda
