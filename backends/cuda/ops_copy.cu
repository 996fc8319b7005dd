// Copy: a batch's K or V rows written to a cache, as F32 or converted to F16 (round to
// nearest even, as the CPU's f32_to_f16). One thread per value. Each row's cache row is
// read on the device (the per-run data), so a decode step's launch is the same at every
// position.
#include "device.h"
#include "gpu_runtime.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

__device__ inline void store(float x, float* dst) { *dst = x; }
__device__ inline void store(float x, __half* dst) { *dst = __float2half_rn(x); }

template <typename T>
__global__ void copy_kernel(const float* x, int64_t n, T* cache, int64_t row_values,
                            const int32_t* rows) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t r = i / row_values;
  store(x[i], cache + rows[r] * row_values + (i - r * row_values));
}

}  // namespace

void copy_to_cache(const float* x, int64_t n, void* cache, int64_t row_values, const int32_t* rows,
                   bool f16, cudaStream_t stream) {
  if (n == 0) return;
  unsigned blocks = elementwise_blocks(n);
  if (f16) {
    copy_kernel<<<blocks, kElementwiseThreads, 0, stream>>>(x, n, static_cast<__half*>(cache),
                                                            row_values, rows);
  } else {
    copy_kernel<<<blocks, kElementwiseThreads, 0, stream>>>(x, n, static_cast<float*>(cache),
                                                            row_values, rows);
  }
  check_launch("copy_kernel");
}

}  // namespace tern::cuda
