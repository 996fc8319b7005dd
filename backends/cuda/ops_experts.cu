// Mixture-of-experts routing and mixing (the products are matmul_vec.cu's expert_matmul):
// the CPU reference's arithmetic (backends/cpu/experts.cpp), one thread per token for the
// route, one per output value for the mix.
#include "device.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

__global__ void expert_route_kernel(const float* __restrict__ logits, int64_t n, int n_expert,
                                    int n_used, bool normalize, float* __restrict__ route) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n) return;
  const float* x = logits + t * n_expert;
  float top = x[0];
  for (int e = 1; e < n_expert; ++e) top = fmaxf(top, x[e]);
  float sum = 0.0f;
  for (int e = 0; e < n_expert; ++e) sum += expf(x[e] - top);
  int picked[kMaxExpertsUsed];
  float prob[kMaxExpertsUsed];
  float chosen = 0.0f;
  for (int j = 0; j < n_used; ++j) {  // the j-th most probable; ties to the lower index
    int best = n_expert;
    float best_p = -1.0f;
    for (int e = 0; e < n_expert; ++e) {
      bool taken = false;
      for (int i = 0; i < j; ++i) taken = taken || picked[i] == e;
      const float p = expf(x[e] - top) / sum;
      if (!taken && p > best_p) {
        best = e;
        best_p = p;
      }
    }
    picked[j] = best;
    prob[j] = best_p;
    chosen += best_p;
  }
  // As llama.cpp: the sum is kept from zero at the smallest normal float16.
  const float denominator = normalize ? fmaxf(chosen, 6.103515625e-5f) : 1.0f;
  float* r = route + t * 2 * n_used;
  for (int j = 0; j < n_used; ++j) {
    r[j] = prob[j] / denominator;
    r[n_used + j] = static_cast<float>(picked[j]);
  }
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
                  float* route, cudaStream_t stream) {
  if (n == 0) return;
  expert_route_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(
      logits, n, n_expert, n_used, normalize, route);
  check_launch("expert_route_kernel");
}

void expert_mix(const float* y, const float* route, int64_t n, int n_used, int64_t cols, float* out,
                cudaStream_t stream) {
  if (n * cols == 0) return;
  expert_mix_kernel<<<elementwise_blocks(n * cols), kElementwiseThreads, 0, stream>>>(
      y, route, n, n_used, cols, out);
  check_launch("expert_mix_kernel");
}

}  // namespace tern::cuda
