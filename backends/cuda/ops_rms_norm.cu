// RmsNorm: one block per group (a row, or one head of a row); the sum of squares is a
// block-wide reduction, then every thread scales its values.
#include "device.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void rms_norm_kernel(const float* x, const float* w, int64_t group, float eps,
                                float* out) {
  __shared__ float partial[32];
  const float* xg = x + static_cast<int64_t>(blockIdx.x) * group;
  float* og = out + static_cast<int64_t>(blockIdx.x) * group;
  float sum_sq = 0.0f;
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) sum_sq += xg[i] * xg[i];
  sum_sq = block_sum(sum_sq, partial);
  float inv = rsqrtf(sum_sq / static_cast<float>(group) + eps);
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) {
    og[i] = xg[i] * inv * (w != nullptr ? w[i] : 1.0f);
  }
}

}  // namespace

void rms_norm(const float* x, const float* w, int64_t group, int64_t n_groups, float eps,
              float* out, cudaStream_t stream) {
  if (n_groups == 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(n_groups), kThreads, 0, stream>>>(x, w, group, eps, out);
  check_launch("rms_norm_kernel");
}

}  // namespace tern::cuda
