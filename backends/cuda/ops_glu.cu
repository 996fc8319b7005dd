// SwiGlu, GeGlu and gpt-oss's clamped SwiGLU: out = act(gate) * up, one thread per value,
// with the CPU reference's formulas (silu = x / (1 + e^-x); gelu with the tanh
// approximation).
#include "device.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

__device__ inline float silu(float x) { return x / (1.0f + expf(-x)); }

__device__ inline float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

__global__ void glu_kernel(Glu act, const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float g = gate[i];
  out[i] = (act == Glu::Silu ? silu(g) : gelu_tanh(g)) * up[i];
}

__global__ void swiglu_oai_kernel(const float* gate, const float* up, int64_t n, float alpha,
                                  float limit, float* out) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = fminf(gate[i], limit);
  const float u = fminf(fmaxf(up[i], -limit), limit);
  out[i] = g / (1.0f + expf(-alpha * g)) * (u + 1.0f);
}

}  // namespace

void swiglu_oai(const float* gate, const float* up, int64_t n, float alpha, float limit,
                float* out, cudaStream_t stream) {
  if (n == 0) return;
  swiglu_oai_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(gate, up, n, alpha,
                                                                               limit, out);
  check_launch("swiglu_oai_kernel");
}

void glu(Glu act, const float* gate, const float* up, int64_t n, float* out,
         cudaStream_t stream) {
  if (n == 0) return;
  glu_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(act, gate, up, n, out);
  check_launch("glu_kernel");
}

}  // namespace tern::cuda
