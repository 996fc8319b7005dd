// Attention: blocks over (query token * head, key split). Each block takes a contiguous
// share of its query's visible keys, kChunk at a time, with an online softmax (running max
// m and sum l; the accumulator is rescaled when m grows), so shared memory does not grow
// with the context. Scores: one warp per key, lanes over the head dims (coalesced K
// reads); values: one thread per output dim (coalesced V reads).
//
// A decode step has few (token, head) rows (32 for an 8B model), far fewer blocks than the
// GPU runs at once, and each block would walk every key in turn: so a few rows split their
// keys over up to kMaxSplits blocks (flash-decoding), which write (m, l, unnormalized
// output) partials that combine_kernel merges. The split count depends on the shape only;
// the share of each split is worked out on the device from the row's position.
#include <algorithm>

#include "device.h"
#include "gpu_runtime.h"
#include "kernel_util.cuh"
#include "ops.h"

namespace tern::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
static_assert(kThreads % kWarpSize == 0);
constexpr int kChunk = 128;                                     // keys per step
constexpr int kAccPerThread = kMaxAttentionHeadDim / kThreads;  // output dims per thread
// Blocks a launch should have to fill a large GPU (an H100 has 132 SMs of up to 16 of
// these blocks), and the most splits per row (each adds a partial to combine).
constexpr int64_t kTargetBlocks = 512;
constexpr int64_t kMaxSplits = 32;

__device__ inline float load(const float* p, int64_t i) { return p[i]; }

// Head h's attention sink logit, stored after the places (run_data.h).
__device__ inline float sink_logit(const AttentionShape& s, const int32_t* places, int64_t h) {
  return __int_as_float(places[2 * s.n_tokens + h]);
}
__device__ inline float load(const __half* p, int64_t i) { return __half2float(p[i]); }

int64_t query_rows(const AttentionShape& s) { return s.n_tokens * s.n_head; }

int64_t split_count(const AttentionShape& s) {
  return std::clamp(kTargetBlocks / std::max<int64_t>(query_rows(s), 1), int64_t{1}, kMaxSplits);
}

// A partial: m, l, then head_dim_v output sums.
int64_t partial_floats(const AttentionShape& s) { return s.head_dim_v + 2; }

template <typename T>
__global__ void __launch_bounds__(kThreads)
    attention_kernel(const float* q, const T* k, const T* v, AttentionShape s,
                     const int32_t* places, float* partial, float* out) {
  __shared__ float qs[kMaxAttentionHeadDim];
  __shared__ float scores[kChunk];
  const int64_t row = blockIdx.x;
  const int64_t t = row / s.n_head;
  const int h = static_cast<int>(row % s.n_head);
  const int kv = h / (s.n_head / s.n_head_kv);
  const int64_t pos = places[2 * t];
  const int64_t slot_row = places[2 * t + 1];  // the token's sequence's first cache row
  k += slot_row * s.k_cols;
  v += slot_row * s.v_cols;
  const int64_t first = s.window > 0 ? max(int64_t{0}, pos - s.window + 1) : 0;
  // This block's share of keys [first, pos]: split blockIdx.y of gridDim.y (the first
  // split is never empty).
  const int64_t per_split = (pos + 1 - first + gridDim.y - 1) / gridDim.y;
  const int64_t lo = first + blockIdx.y * per_split;
  const int64_t hi = min(pos + 1, lo + per_split);
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const float* qh = q + t * s.n_head * s.head_dim_k + int64_t{h} * s.head_dim_k;
  for (int d = threadIdx.x; d < s.head_dim_k; d += kThreads) qs[d] = qh[d];
  __syncthreads();

  float acc[kAccPerThread] = {};
  float m = -INFINITY;  // running max of the scores
  float l = 0.0f;       // running sum of exp(score - m)
  for (int64_t start = lo; start < hi; start += kChunk) {
    const int n = static_cast<int>(min(int64_t{kChunk}, hi - start));
#pragma unroll 4  // several keys' loads in flight per warp
    for (int j = warp; j < n; j += kWarps) {
      const T* kj = k + (start + j) * s.k_cols + int64_t{kv} * s.head_dim_k;
      float dot = 0.0f;
      for (int d = lane; d < s.head_dim_k; d += kWarpSize) dot += qs[d] * load(kj, d);
      dot = warp_sum(dot);
      if (lane == 0) {
        const float score = dot * s.scale;
        scores[j] = s.softcap > 0.0f ? s.softcap * tanhf(score / s.softcap) : score;
      }
    }
    __syncthreads();
    float chunk_max = -INFINITY;
    for (int j = 0; j < n; ++j) chunk_max = fmaxf(chunk_max, scores[j]);
    const float new_m = fmaxf(m, chunk_max);
    const float correction = expf(m - new_m);  // 0 on the first chunk (m = -inf)
    l *= correction;
    for (int i = 0; i < kAccPerThread; ++i) acc[i] *= correction;
#pragma unroll 4  // several values' loads in flight per thread
    for (int j = 0; j < n; ++j) {
      const float p = expf(scores[j] - new_m);
      l += p;
      const T* vj = v + (start + j) * s.v_cols + int64_t{kv} * s.head_dim_v;
      for (int i = 0; i < kAccPerThread; ++i) {
        const int d = threadIdx.x + i * kThreads;
        if (d < s.head_dim_v) acc[i] += p * load(vj, d);
      }
    }
    m = new_m;
    __syncthreads();  // every thread has read `scores` before the next chunk writes it
  }
  if (gridDim.y == 1) {
    float scale = 1.0f;
    if (s.sinks) {  // e^sink joins l only, under a max that includes it
      const float sink = sink_logit(s, places, h);
      const float new_m = fmaxf(m, sink);
      scale = expf(m - new_m);
      l = l * scale + expf(sink - new_m);
    }
    float* oh = out + t * s.n_head * s.head_dim_v + int64_t{h} * s.head_dim_v;
    for (int i = 0; i < kAccPerThread; ++i) {
      const int d = threadIdx.x + i * kThreads;
      if (d < s.head_dim_v) oh[d] = acc[i] * scale / l;
    }
    return;
  }
  // An empty split leaves m = -inf, l = 0 and zero sums: weight 0 when combined.
  float* part = partial + (row * gridDim.y + blockIdx.y) * (s.head_dim_v + 2);
  if (threadIdx.x == 0) {
    part[0] = m;
    part[1] = l;
  }
  for (int i = 0; i < kAccPerThread; ++i) {
    const int d = threadIdx.x + i * kThreads;
    if (d < s.head_dim_v) part[2 + d] = acc[i];
  }
}

// out row = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s over the row's n_splits
// partials, M the largest m_s (finite: the first split always has keys); a sink adds
// e^(sink - M) to the denominator, M then including it. The first warp
// turns the (m, l) pairs, one per lane, into the splits' weights; then every thread sums its
// output dims over the splits, all of whose loads are independent.
static_assert(kMaxSplits <= kWarpSize);

__global__ void __launch_bounds__(kThreads)
    combine_kernel(const float* partial, int n_splits, AttentionShape s, const int32_t* places,
                   float* out) {
  __shared__ float weights[kMaxSplits];
  const int64_t row = blockIdx.x;
  const int64_t stride = s.head_dim_v + 2;
  const float* base = partial + row * n_splits * stride;
  if (threadIdx.x < kWarpSize) {
    const int i = static_cast<int>(threadIdx.x);
    const float m = i < n_splits ? base[i * stride] : -INFINITY;
    const float sink = s.sinks ? sink_logit(s, places, row % s.n_head) : -INFINITY;
    float max_m = fmaxf(m, sink);
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      max_m = fmaxf(max_m, warp_shfl_xor(max_m, offset));
    }
    const float scale = i < n_splits ? expf(m - max_m) : 0.0f;  // 0 for an empty split
    const float l = warp_sum(i < n_splits ? base[i * stride + 1] * scale : 0.0f) +
                    (s.sinks ? expf(sink - max_m) : 0.0f);
    if (i < n_splits) weights[i] = scale / l;
  }
  __syncthreads();
  const int64_t t = row / s.n_head;
  const int64_t h = row % s.n_head;
  float* oh = out + t * s.n_head * s.head_dim_v + h * s.head_dim_v;
  for (int d = threadIdx.x; d < s.head_dim_v; d += kThreads) {
    float sum = 0.0f;
#pragma unroll 8
    for (int i = 0; i < n_splits; ++i) sum += base[i * stride + 2 + d] * weights[i];
    oh[d] = sum;
  }
}

}  // namespace

size_t attention_scratch_floats(const AttentionShape& s) {
  const int64_t splits = split_count(s);
  return splits == 1 ? 0 : static_cast<size_t>(query_rows(s) * splits * partial_floats(s));
}

void attention(const float* q, const void* k, const void* v, bool f16, const AttentionShape& s,
               const int32_t* places, float* scratch, float* out, cudaStream_t stream) {
  const int64_t rows = query_rows(s);
  if (rows == 0) return;
  const int64_t splits = split_count(s);
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(splits));
  if (f16) {
    attention_kernel<<<grid, kThreads, 0, stream>>>(
        q, static_cast<const __half*>(k), static_cast<const __half*>(v), s, places, scratch, out);
  } else {
    attention_kernel<<<grid, kThreads, 0, stream>>>(
        q, static_cast<const float*>(k), static_cast<const float*>(v), s, places, scratch, out);
  }
  check_launch("attention_kernel");
  if (splits == 1) return;
  combine_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      scratch, static_cast<int>(splits), s, places, out);
  check_launch("attention combine_kernel");
}

}  // namespace tern::cuda
