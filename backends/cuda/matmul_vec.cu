// Matrix-vector products for decoding (1 to kMaxVecTokens tokens): one warp per weight
// row, each lane walking units of the row's blocks (row_dot in cuda_types.cuh), then a
// warp-shuffle sum. Quantized rows: the activations are quantized to 8-bit blocks once per
// call and dotted with dp4a; plain rows: float FMAs. The weights are read once per pass for
// all its tokens; adjacent lanes read adjacent units, so a warp's loads cover contiguous
// bytes of the row.
#include <algorithm>
#include <utility>

#include "cuda_types.cuh"
#include "device.h"
#include "kernel_util.cuh"
#include "matmul_kernels.h"

namespace tern::cuda {
namespace {

constexpr int kWarp = 32;
// Rows per thread block (one warp each): 128 threads, enough resident warps to keep
// many row streams in flight. A tuning knob for GPU benchmarks.
constexpr int kRowsPerCta = 4;

static_assert(kBlock32 == kWarp && kElementwiseThreads % kWarp == 0);

// out [n_blocks] from x [n_blocks * 32]: one warp per block, lane j quantizing value j, the
// block's absmax and quant sum as warp reductions (quantize_act_block's arithmetic).
__global__ void quantize_kernel(const float* __restrict__ x, int64_t n_blocks,
                                ActBlock* __restrict__ out) {
  const int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  if (i >= n_blocks) return;  // the whole warp leaves together
  const float v = x[i * kBlock32 + lane];
  float amax = fabsf(v);
  for (int offset = 16; offset > 0; offset /= 2) {
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  }
  const float d = act_scale(amax);
  const int q = act_quant(v, d);
  int sum = q;
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  out[i].qs[lane] = static_cast<int8_t>(q);
  if (lane == 0) {
    out[i].d = d;
    out[i].s = d * static_cast<float>(sum);
  }
}

// y [kTokens, rows] (rows apart) += nothing: y[t * rows + r] = w_r . x_t, x_t being
// x_stride elements (ActBlocks or floats) after x_{t-1}.
template <typename Block, int kTokens>
__global__ void __launch_bounds__(kWarp* kRowsPerCta)
    matvec_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int64_t n_blocks,
                  const void* __restrict__ x, int64_t x_stride, float* __restrict__ y) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerCta + threadIdx.y;
  if (row >= rows) return;  // the whole warp leaves together
  float acc[kTokens] = {};
  const auto* w_row = reinterpret_cast<const Block*>(w + row * row_bytes);
  row_dot<Block, kTokens>(w_row, n_blocks, x, x_stride, static_cast<int>(threadIdx.x), kWarp, acc);
#pragma unroll
  for (int t = 0; t < kTokens; ++t) acc[t] = warp_sum(acc[t]);
  if (threadIdx.x == 0) {
#pragma unroll
    for (int t = 0; t < kTokens; ++t) y[t * rows + row] = acc[t];
  }
}

template <typename Block, int kTokens>
void launch(const DeviceMatrix& w, const void* x, int64_t x_stride, float* y, cudaStream_t stream) {
  const int64_t n_blocks = w.cols / BlockGeometry<Block>::kValues;
  const dim3 block(kWarp, kRowsPerCta);
  const auto grid = static_cast<unsigned>((w.rows + kRowsPerCta - 1) / kRowsPerCta);
  matvec_kernel<Block, kTokens><<<grid, block, 0, stream>>>(
      static_cast<const uint8_t*>(w.data), w.row_bytes, w.rows, n_blocks, x, x_stride, y);
}

// launch<Block, n> for a runtime n in 1..sizeof...(kT).
template <typename Block, int... kT>
void launch_n(int n, const DeviceMatrix& w, const void* x, int64_t x_stride, float* y,
              cudaStream_t stream, std::integer_sequence<int, kT...>) {
  ((n == kT + 1 ? launch<Block, kT + 1>(w, x, x_stride, y, stream) : void()), ...);
}

}  // namespace

void matmul_vec(const DeviceMatrix& w, const float* x, float* y, int64_t n_tokens, Scratch& scratch,
                cudaStream_t stream) {
  visit_block(w.type, plain_by8(w), [&](auto block) {
    using Block = decltype(block);
    const void* xs = x;
    int64_t x_stride = w.cols;  // floats per token
    if constexpr (BlockGeometry<Block>::kQuantized) {
      const int64_t n_act = n_tokens * (w.cols / kBlock32);
      auto* act = static_cast<ActBlock*>(scratch.get(n_act * sizeof(ActBlock), stream));
      quantize_kernel<<<elementwise_blocks(n_act * kWarp), kElementwiseThreads, 0, stream>>>(
          x, n_act, act);
      xs = act;
      x_stride = w.cols / kBlock32;  // ActBlocks per token
    }
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kMaxVecTokens) {
      const int n = static_cast<int>(std::min<int64_t>(kMaxVecTokens, n_tokens - t0));
      const void* xt =
          BlockGeometry<Block>::kQuantized
              ? static_cast<const void*>(static_cast<const ActBlock*>(xs) + t0 * x_stride)
              : static_cast<const void*>(static_cast<const float*>(xs) + t0 * x_stride);
      launch_n<Block>(n, w, xt, x_stride, y + t0 * w.rows, stream,
                      std::make_integer_sequence<int, kMaxVecTokens>{});
    }
  });
  check_launch("matmul_vec");
}

}  // namespace tern::cuda
