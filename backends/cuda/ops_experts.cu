// Mixture-of-experts routing, per-expert biases and mixing (the products are matmul_vec.cu's
// expert_matmul): the CPU reference's arithmetic (backends/cpu/experts.cpp), one thread per
// token for the route, one per output value for the others.
#include "device.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

__global__ void expert_route_kernel(const float* __restrict__ logits, int64_t n, int n_expert,
                                    int n_used, bool normalize, bool chosen_only,
                                    float* __restrict__ route) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n) return;
  const float* x = logits + t * n_expert;
  int picked[kMaxExpertsUsed];
  for (int j = 0; j < n_used; ++j) {  // the j-th highest logit; ties to the lower index
    int best = n_expert;
    for (int e = 0; e < n_expert; ++e) {
      bool taken = false;
      for (int i = 0; i < j; ++i) taken = taken || picked[i] == e;
      if (!taken && (best == n_expert || x[e] > x[best])) best = e;
    }
    picked[j] = best;
  }
  // Softmax over all experts, or over the chosen ones (gpt-oss), shifted by the top logit.
  const float top = x[picked[0]];
  float sum = 0.0f;
  for (int e = 0; e < (chosen_only ? n_used : n_expert); ++e) {
    sum += expf(x[chosen_only ? picked[e] : e] - top);
  }
  float* r = route + t * 2 * n_used;
  float chosen = 0.0f;
  for (int j = 0; j < n_used; ++j) {
    chosen += r[j] = expf(x[picked[j]] - top) / sum;
    r[n_used + j] = static_cast<float>(picked[j]);
  }
  if (!normalize) return;
  // As llama.cpp: the sum is kept from zero at the smallest normal float16.
  const float denominator = fmaxf(chosen, 6.103515625e-5f);
  for (int j = 0; j < n_used; ++j) r[j] /= denominator;
}

__global__ void expert_add_kernel(const float* __restrict__ y, const float* __restrict__ bias,
                                  int n_expert, const float* __restrict__ route, int64_t n_pairs,
                                  int n_used, int64_t cols, float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_pairs * cols) return;
  const int64_t pair = i / cols, c = i % cols;
  const float chosen = route[(pair / n_used) * 2 * n_used + n_used + pair % n_used];
  const int64_t expert = min(max(static_cast<int>(chosen), 0), n_expert - 1);
  out[i] = y[i] + bias[expert * cols + c];
}

__global__ void expert_mix_kernel(const float* __restrict__ y, const float* __restrict__ route,
                                  int64_t n, int n_used, int64_t cols, float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * cols) return;
  const int64_t t = i / cols, c = i % cols;
  const float* r = route + t * 2 * n_used;
  const float* yt = y + t * n_used * cols + c;
  float s = r[0] * yt[0];
  for (int j = 1; j < n_used; ++j) s += r[j] * yt[j * cols];
  out[i] = s;
}

}  // namespace

void expert_route(const float* logits, int64_t n, int n_expert, int n_used, bool normalize,
                  bool chosen_only, float* route, cudaStream_t stream) {
  if (n == 0) return;
  expert_route_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(
      logits, n, n_expert, n_used, normalize, chosen_only, route);
  check_launch("expert_route_kernel");
}

void expert_add(const float* y, const float* bias, int n_expert, const float* route,
                int64_t n_pairs, int n_used, int64_t cols, float* out, cudaStream_t stream) {
  if (n_pairs * cols == 0) return;
  expert_add_kernel<<<elementwise_blocks(n_pairs * cols), kElementwiseThreads, 0, stream>>>(
      y, bias, n_expert, route, n_pairs, n_used, cols, out);
  check_launch("expert_add_kernel");
}

void expert_mix(const float* y, const float* route, int64_t n, int n_used, int64_t cols, float* out,
                cudaStream_t stream) {
  if (n * cols == 0) return;
  expert_mix_kernel<<<elementwise_blocks(n * cols), kElementwiseThreads, 0, stream>>>(
      y, route, n, n_used, cols, out);
  check_launch("expert_mix_kernel");
}

}  // namespace tern::cuda
