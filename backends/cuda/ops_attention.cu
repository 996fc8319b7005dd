// Attention: one block per (query token, head). Keys are visited kChunk at a time with an
// online softmax (running max m and sum l; the accumulator is rescaled when m grows), so
// shared memory does not grow with the context. Scores: one warp per key, lanes over the
// head dims (coalesced K reads); values: one thread per output dim (coalesced V reads).
#include <cuda_fp16.h>

#include "device.h"
#include "ops.h"
#include "kernel_util.cuh"

namespace tern::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kChunk = 128;                                    // keys per step
constexpr int kAccPerThread = kMaxAttentionHeadDim / kThreads;  // output dims per thread

__device__ inline float load(const float* p, int64_t i) { return p[i]; }
__device__ inline float load(const __half* p, int64_t i) { return __half2float(p[i]); }

template <typename T>
__global__ void attention_kernel(const float* q, const T* k, const T* v, AttentionShape s,
                                 float* out) {
  __shared__ float qs[kMaxAttentionHeadDim];
  __shared__ float scores[kChunk];
  int64_t t = blockIdx.x / s.n_head;
  int h = static_cast<int>(blockIdx.x % s.n_head);
  int kv = h / (s.n_head / s.n_head_kv);
  int64_t pos = s.pos0 + t;
  int64_t first = s.window > 0 ? max(int64_t{0}, pos - s.window + 1) : 0;
  int lane = threadIdx.x % 32;
  int warp = threadIdx.x / 32;
  const float* qh = q + t * s.n_head * s.head_dim_k + int64_t{h} * s.head_dim_k;
  for (int d = threadIdx.x; d < s.head_dim_k; d += kThreads) qs[d] = qh[d];
  __syncthreads();

  float acc[kAccPerThread] = {};
  float m = -INFINITY;  // running max of the scores
  float l = 0.0f;       // running sum of exp(score - m)
  for (int64_t start = first; start <= pos; start += kChunk) {
    int n = static_cast<int>(min(int64_t{kChunk}, pos + 1 - start));
    for (int j = warp; j < n; j += kWarps) {
      const T* kj = k + (start + j) * s.k_cols + int64_t{kv} * s.head_dim_k;
      float dot = 0.0f;
      for (int d = lane; d < s.head_dim_k; d += 32) dot += qs[d] * load(kj, d);
      dot = warp_sum(dot);
      if (lane == 0) scores[j] = dot * s.scale;
    }
    __syncthreads();
    float chunk_max = -INFINITY;
    for (int j = 0; j < n; ++j) chunk_max = fmaxf(chunk_max, scores[j]);
    float new_m = fmaxf(m, chunk_max);
    float correction = expf(m - new_m);  // 0 on the first chunk (m = -inf)
    l *= correction;
    for (int i = 0; i < kAccPerThread; ++i) acc[i] *= correction;
    for (int j = 0; j < n; ++j) {
      float p = expf(scores[j] - new_m);
      l += p;
      const T* vj = v + (start + j) * s.v_cols + int64_t{kv} * s.head_dim_v;
      for (int i = 0; i < kAccPerThread; ++i) {
        int d = threadIdx.x + i * kThreads;
        if (d < s.head_dim_v) acc[i] += p * load(vj, d);
      }
    }
    m = new_m;
    __syncthreads();  // every thread has read `scores` before the next chunk writes it
  }
  float* oh = out + t * s.n_head * s.head_dim_v + int64_t{h} * s.head_dim_v;
  for (int i = 0; i < kAccPerThread; ++i) {
    int d = threadIdx.x + i * kThreads;
    if (d < s.head_dim_v) oh[d] = acc[i] / l;
  }
}

}  // namespace

void attention(const float* q, const void* k, const void* v, bool f16, const AttentionShape& s,
               float* out, cudaStream_t stream) {
  int64_t blocks = s.n_tokens * s.n_head;
  if (blocks == 0) return;
  auto grid = static_cast<unsigned>(blocks);
  if (f16) {
    attention_kernel<<<grid, kThreads, 0, stream>>>(q, static_cast<const __half*>(k),
                                                    static_cast<const __half*>(v), s, out);
  } else {
    attention_kernel<<<grid, kThreads, 0, stream>>>(q, static_cast<const float*>(k),
                                                    static_cast<const float*>(v), s, out);
  }
  check_launch("attention_kernel");
}

}  // namespace tern::cuda
