// Add (with a one-row b broadcast over a's rows: biases), Scale and SoftCap: one thread per
// value.
#include "device.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

__global__ void add_kernel(const float* a, const float* b, int64_t cols, int64_t n,
                           bool broadcast, float* out) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[broadcast ? i % cols : i];
}

__global__ void scale_kernel(const float* x, int64_t n, float factor, float* out) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = x[i] * factor;
}

__global__ void soft_cap_kernel(const float* x, int64_t n, float cap, float* out) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = cap * tanhf(x[i] / cap);
}

}  // namespace

void add(const float* a, const float* b, int64_t cols, int64_t rows, int64_t b_rows, float* out,
         cudaStream_t stream) {
  int64_t n = cols * rows;
  if (n == 0) return;
  add_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(a, b, cols, n,
                                                                        b_rows == 1, out);
  check_launch("add_kernel");
}

void scale(const float* x, int64_t n, float factor, float* out, cudaStream_t stream) {
  if (n == 0) return;
  scale_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(x, n, factor, out);
  check_launch("scale_kernel");
}

void soft_cap(const float* x, int64_t n, float cap, float* out, cudaStream_t stream) {
  if (n == 0) return;
  soft_cap_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(x, n, cap, out);
  check_launch("soft_cap_kernel");
}

}  // namespace tern::cuda
