// RmsNorm: one block per group (a row, or one head of a row); the sum of squares is a
// block-wide reduction, then every thread scales its values. A block has about one float4
// per thread (up to 1024 threads), so each thread's loads are issued at once: a decode
// step's single 4096-value row would otherwise walk its values in 16 dependent steps.
#include <algorithm>
#include <cstdint>

#include "device.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

constexpr int kMaxThreads = 1024;

// kVec: the group is float4s (length a multiple of 4, every pointer 16-byte aligned).
template <bool kVec>
__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                int64_t group, float eps, float* __restrict__ out) {
  __shared__ float partial[32];
  const float* xg = x + static_cast<int64_t>(blockIdx.x) * group;
  float* og = out + static_cast<int64_t>(blockIdx.x) * group;
  float sum_sq = 0.0f;
  if constexpr (kVec) {
    const auto* x4 = reinterpret_cast<const float4*>(xg);
    for (int64_t i = threadIdx.x; i < group / 4; i += blockDim.x) {
      const float4 v = x4[i];
      sum_sq += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  } else {
    for (int64_t i = threadIdx.x; i < group; i += blockDim.x) sum_sq += xg[i] * xg[i];
  }
  sum_sq = block_sum(sum_sq, partial);
  const float inv = rsqrtf(sum_sq / static_cast<float>(group) + eps);
  if constexpr (kVec) {
    const auto* x4 = reinterpret_cast<const float4*>(xg);
    const auto* w4 = reinterpret_cast<const float4*>(w);
    auto* o4 = reinterpret_cast<float4*>(og);
    for (int64_t i = threadIdx.x; i < group / 4; i += blockDim.x) {
      float4 v = x4[i];
      const float4 s = w4 != nullptr ? w4[i] : make_float4(1.0f, 1.0f, 1.0f, 1.0f);
      v.x *= inv * s.x, v.y *= inv * s.y, v.z *= inv * s.z, v.w *= inv * s.w;
      o4[i] = v;
    }
  } else {
    for (int64_t i = threadIdx.x; i < group; i += blockDim.x) {
      og[i] = xg[i] * inv * (w != nullptr ? w[i] : 1.0f);
    }
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void rms_norm(const float* x, const float* w, int64_t group, int64_t n_groups, float eps,
              float* out, cudaStream_t stream) {
  if (n_groups == 0) return;
  const bool vec = group % 4 == 0 && aligned16(x) && aligned16(out) && (w == nullptr || aligned16(w));
  const int64_t per_thread = vec ? 4 : 1;
  const int64_t warps = (group / per_thread + kWarpSize - 1) / kWarpSize;
  const auto threads =
      static_cast<unsigned>(std::clamp<int64_t>(warps * kWarpSize, kWarpSize, kMaxThreads));
  const auto blocks = static_cast<unsigned>(n_groups);
  if (vec) {
    rms_norm_kernel<true><<<blocks, threads, 0, stream>>>(x, w, group, eps, out);
  } else {
    rms_norm_kernel<false><<<blocks, threads, 0, stream>>>(x, w, group, eps, out);
  }
  check_launch("rms_norm_kernel");
}

}  // namespace tern::cuda
