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
#include "tern/error.h"

namespace tern::cuda {
namespace {

constexpr int kWarp = kWarpSize;
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
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    amax = fmaxf(amax, warp_shfl_xor(amax, offset));
  }
  const float d = act_scale(amax);
  const int q = act_quant(v, d);
  int sum = q;
  for (int offset = kWarp / 2; offset > 0; offset /= 2) sum += warp_shfl_xor(sum, offset);
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

// y [n_pairs, rows]: y[pair * rows + r] = row r of the matrix route chose for the pair
// (w stacks n_expert matrices of `rows` rows) . x's row of the pair (x_per_pair) or of
// its token, x rows x_stride elements apart. Grid: (row blocks, pairs).
template <typename Block>
__global__ void __launch_bounds__(kWarp* kRowsPerCta)
    expert_matvec_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows,
                         int n_expert, int64_t n_blocks, const void* __restrict__ x,
                         int64_t x_stride, bool x_per_pair, const float* __restrict__ route,
                         int n_used, float* __restrict__ y) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerCta + threadIdx.y;
  if (row >= rows) return;  // the whole warp leaves together
  const int64_t pair = blockIdx.y;
  const int64_t token = pair / n_used;
  const float chosen = route[token * 2 * n_used + n_used + pair % n_used];
  const int64_t expert = min(max(static_cast<int>(chosen), 0), n_expert - 1);
  const auto* w_row = reinterpret_cast<const Block*>(w + (expert * rows + row) * row_bytes);
  const int64_t x_row = x_per_pair ? pair : token;
  const void* xr;
  if constexpr (BlockGeometry<Block>::kQuantized) {
    xr = static_cast<const ActBlock*>(x) + x_row * x_stride;
  } else {
    xr = static_cast<const float*>(x) + x_row * x_stride;
  }
  float acc[1] = {};
  row_dot<Block, 1>(w_row, n_blocks, xr, x_stride, static_cast<int>(threadIdx.x), kWarp, acc);
  acc[0] = warp_sum(acc[0]);
  if (threadIdx.x == 0) y[pair * rows + row] = acc[0];
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

// Quantized blocks: x [x_rows, w.cols] as 8-bit blocks in scratch (the activations the
// kernels dot); plain types: x itself. Returns them and the stride between rows.
template <typename Block>
std::pair<const void*, int64_t> kernel_activations(const DeviceMatrix& w, const float* x,
                                                   int64_t x_rows, Scratch& scratch,
                                                   cudaStream_t stream) {
  if constexpr (!BlockGeometry<Block>::kQuantized) {
    return {x, w.cols};  // floats per row
  } else {
    const int64_t n_act = x_rows * (w.cols / kBlock32);
    auto* act = static_cast<ActBlock*>(scratch.get(n_act * sizeof(ActBlock), stream));
    quantize_kernel<<<elementwise_blocks(n_act * kWarp), kElementwiseThreads, 0, stream>>>(x, n_act,
                                                                                           act);
    return {act, w.cols / kBlock32};  // ActBlocks per row
  }
}

}  // namespace

void expert_matmul(const DeviceMatrix& w, int n_expert, const float* x, int64_t x_rows,
                   const float* route, int64_t n_tokens, int n_used, float* y, Scratch& scratch,
                   cudaStream_t stream) {
  check_matrix(w, "expert_matmul");
  const int64_t rows = w.rows / n_expert, n_pairs = n_tokens * n_used;
  if (n_pairs == 0 || rows == 0) return;
  if (n_pairs > 65535) throw Error("cuda expert_matmul: more than 65535 token-expert pairs");
  visit_block(w.type, plain_by8(w), [&](auto block) {
    using Block = decltype(block);
    auto [xs, x_stride] = kernel_activations<Block>(w, x, x_rows, scratch, stream);
    const dim3 grid(static_cast<unsigned>((rows + kRowsPerCta - 1) / kRowsPerCta),
                    static_cast<unsigned>(n_pairs));
    expert_matvec_kernel<Block><<<grid, dim3(kWarp, kRowsPerCta), 0, stream>>>(
        static_cast<const uint8_t*>(w.data), w.row_bytes, rows, n_expert,
        w.cols / BlockGeometry<Block>::kValues, xs, x_stride, x_rows == n_pairs, route, n_used, y);
  });
  check_launch("expert_matmul");
}

void matmul_vec(const DeviceMatrix& w, const float* x, float* y, int64_t n_tokens, Scratch& scratch,
                cudaStream_t stream) {
  visit_block(w.type, plain_by8(w), [&](auto block) {
    using Block = decltype(block);
    auto [xs, x_stride] = kernel_activations<Block>(w, x, n_tokens, scratch, stream);
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
