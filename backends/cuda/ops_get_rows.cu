// get_rows: embedding lookup, rows of a weight matrix of any native type as F32. One
// thread per kChunkValues values of a row; blockIdx.y walks the requested rows.
#include <algorithm>

#include "cuda_types.cuh"
#include "device.h"
#include "kernel_util.cuh"
#include "matmul_kernels.h"

namespace tern::cuda {
namespace {

// Most rows one launch's grid spans in y (CUDA's limit is 65535); the kernel strides
// over the rest.
constexpr int64_t kMaxGridRows = 65535;

template <typename Block>
__global__ void get_rows_kernel(const uint8_t* __restrict__ w, size_t row_bytes,
                                const int32_t* __restrict__ ids, int64_t n, int64_t cols,
                                float* __restrict__ out) {
  constexpr int kChunk = kChunkValues<Block>;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols / kChunk) return;
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
    float v[kChunk];
    dequant_chunk(reinterpret_cast<const Block*>(w + ids[i] * row_bytes), c, v);
#pragma unroll
    for (int k = 0; k < kChunk; ++k) out[i * cols + c * kChunk + k] = v[k];
  }
}

}  // namespace

void get_rows(const DeviceMatrix& w, const int32_t* ids, float* out, int64_t n,
              cudaStream_t stream) {
  if (n <= 0) return;
  check_matrix(w, "get_rows");
  visit_block(w.type, plain_by8(w), [&](auto block) {
    using Block = decltype(block);
    const int64_t chunks = w.cols / kChunkValues<Block>;
    const dim3 grid(elementwise_blocks(chunks), static_cast<unsigned>(std::min(n, kMaxGridRows)));
    get_rows_kernel<Block><<<grid, kElementwiseThreads, 0, stream>>>(
        static_cast<const uint8_t*>(w.data), w.row_bytes, ids, n, w.cols, out);
  });
  check_launch("get_rows");
}

}  // namespace tern::cuda
