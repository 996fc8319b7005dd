// Rope: one thread per (token, head, pair). The angles' cos and sin come from the host
// (computed in double, as the CPU reference does), so the GPU only rotates.
#include "device.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

__global__ void rope_kernel(const float* x, const float* cos_sin, int64_t n_pairs, int n_head,
                            int head_dim, int n_rot, bool neox, float* out) {
  int64_t item = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (item >= n_pairs) return;
  int pairs_per_head = head_dim / 2;
  int i = static_cast<int>(item % pairs_per_head);
  int64_t row = item / pairs_per_head;  // token * n_head + head
  int64_t token = row / n_head;
  const float* xh = x + row * head_dim;
  float* oh = out + row * head_dim;
  int half = n_rot / 2;
  if (i >= half) {  // past the rotated dims (both layouts): copied as they are
    oh[2 * i] = xh[2 * i];
    oh[2 * i + 1] = xh[2 * i + 1];
    return;
  }
  const float* cs = cos_sin + (token * half + i) * 2;
  int a = neox ? i : 2 * i;
  int b = neox ? i + half : 2 * i + 1;
  float x0 = xh[a];
  float x1 = xh[b];
  oh[a] = x0 * cs[0] - x1 * cs[1];
  oh[b] = x0 * cs[1] + x1 * cs[0];
}

}  // namespace

void rope(const float* x, const float* cos_sin, int64_t n_tokens, int n_head, int head_dim,
          int n_rot, bool neox, float* out, cudaStream_t stream) {
  int64_t n_pairs = n_tokens * n_head * (head_dim / 2);
  if (n_pairs == 0) return;
  rope_kernel<<<elementwise_blocks(n_pairs), kElementwiseThreads, 0, stream>>>(
      x, cos_sin, n_pairs, n_head, head_dim, n_rot, neox, out);
  check_launch("rope_kernel");
}

}  // namespace tern::cuda
