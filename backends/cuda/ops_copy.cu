// Copy: a batch's K or V rows appended to a cache, as F32 or converted to F16 (round to
// nearest even, as the CPU's f32_to_f16). One thread per value. The first row is read on
// the device (the per-run data), so a decode step's launch is the same at every position.
#include <cuda_fp16.h>

#include "device.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

__device__ inline void store(float x, float* dst) { *dst = x; }
__device__ inline void store(float x, __half* dst) { *dst = __float2half_rn(x); }

template <typename T>
__global__ void copy_kernel(const float* x, int64_t n, T* cache, int64_t row_values,
                            const int32_t* row) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) store(x[i], cache + *row * row_values + i);
}

}  // namespace

void copy_to_cache(const float* x, int64_t n, void* cache, int64_t row_values, const int32_t* row,
                   bool f16, cudaStream_t stream) {
  if (n == 0) return;
  unsigned blocks = elementwise_blocks(n);
  if (f16) {
    copy_kernel<<<blocks, kElementwiseThreads, 0, stream>>>(x, n, static_cast<__half*>(cache),
                                                            row_values, row);
  } else {
    copy_kernel<<<blocks, kElementwiseThreads, 0, stream>>>(x, n, static_cast<float*>(cache),
                                                            row_values, row);
  }
  check_launch("copy_kernel");
}

}  // namespace tern::cuda
