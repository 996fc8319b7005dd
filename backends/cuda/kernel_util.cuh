// Helpers the op kernels share: launch sizes for elementwise kernels and block-wide sums.
#pragma once

#include <cstdint>

#include "gpu_runtime.h"

namespace tern::cuda {

inline constexpr int kElementwiseThreads = 256;

/// Blocks of kElementwiseThreads covering n items (at least one).
inline unsigned elementwise_blocks(int64_t n) {
  int64_t blocks = (n + kElementwiseThreads - 1) / kElementwiseThreads;
  return static_cast<unsigned>(blocks > 0 ? blocks : 1);
}

__device__ inline float warp_sum(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v += warp_shfl_xor(v, offset);
  return v;
}

/// The sum of `v` over the block (blockDim.x a multiple of kWarpSize, at most 1024),
/// returned to every thread. `shared` holds 32 floats; the call synchronizes the block.
__device__ inline float block_sum(float v, float* shared) {
  static_assert(kElementwiseThreads % kWarpSize == 0 && 1024 / kWarpSize <= kWarpSize);
  int lane = threadIdx.x % kWarpSize;
  int warp = threadIdx.x / kWarpSize;
  v = warp_sum(v);
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  int n_warps = static_cast<int>(blockDim.x / kWarpSize);
  v = lane < n_warps ? shared[lane] : 0.0f;
  return warp_sum(v);
}

}  // namespace tern::cuda
