// The CUDA side of the type table: for each weight type with native kernels, its block
// struct and how the kernels walk it. visit_block() is the one place that turns a runtime
// TensorType into a compile-time block type; every kernel is a template over that type.
#pragma once

#include <cstdint>
#include <utility>

#include "block_dot.cuh"
#include "dequant.cuh"
#include "types/type_table.h"

namespace tern::cuda {

/// Most tokens one matrix-vector launch takes (the kernel keeps one accumulator per token
/// and reads the weights once for all of them).
inline constexpr int kMaxVecTokens = 8;

/// How kernels walk a block type: kValues per block; quantized types are dotted in units
/// of kUnitValues values with 8-bit activations (block_dot.cuh); plain types in float.
/// vec_max_tokens: up to this many tokens matmul() runs the matrix-vector kernel, beyond
/// it dequantize-to-F16 + cuBLAS. Every type uses kMaxVecTokens for now: with up to 8
/// tokens the vector kernel still reads each weight byte once from memory, whereas the
/// cuBLAS path writes and reads 2 bytes per weight value besides (4-7x the bytes of a
/// 4-5 bit type) and gains tensor cores only at larger batches. GPU benchmarks tune it.
template <typename Block>
struct BlockGeometry;

template <int kBlockValues, int kUnit>
struct QuantGeometry {
  static constexpr bool kQuantized = true;
  static constexpr int kValues = kBlockValues;
  static constexpr int kUnitValues = kUnit;
  static constexpr int kVecMaxTokens = kMaxVecTokens;
};
template <int kBlockValues>
struct PlainGeometry {
  static constexpr bool kQuantized = false;
  static constexpr int kValues = kBlockValues;
  static constexpr int kVecMaxTokens = kMaxVecTokens;
};

// clang-format off
template <> struct BlockGeometry<BlockQ4_0> : QuantGeometry<kBlock32, 32> {};
template <> struct BlockGeometry<BlockQ4_1> : QuantGeometry<kBlock32, 32> {};
template <> struct BlockGeometry<BlockQ5_0> : QuantGeometry<kBlock32, 32> {};
template <> struct BlockGeometry<BlockQ5_1> : QuantGeometry<kBlock32, 32> {};
template <> struct BlockGeometry<BlockQ8_0> : QuantGeometry<kBlock32, 32> {};
template <> struct BlockGeometry<BlockIQ4_NL> : QuantGeometry<kBlock32, 32> {};
template <> struct BlockGeometry<BlockQ2_K> : QuantGeometry<kSuperBlock, 128> {};
template <> struct BlockGeometry<BlockQ3_K> : QuantGeometry<kSuperBlock, 128> {};
template <> struct BlockGeometry<BlockQ4_K> : QuantGeometry<kSuperBlock, 32> {};
template <> struct BlockGeometry<BlockQ5_K> : QuantGeometry<kSuperBlock, 32> {};
template <> struct BlockGeometry<BlockQ6_K> : QuantGeometry<kSuperBlock, 32> {};
template <> struct BlockGeometry<BlockIQ4_XS> : QuantGeometry<kSuperBlock, 32> {};
template <typename E, int kN, int kTag> struct BlockGeometry<PlainBlock<E, kN, kTag>> : PlainGeometry<kN> {};
// clang-format on

/// Calls f(Block{}) with the block type of `type` and returns true, or returns false when
/// `type` has no native kernel. Plain types are walked 8 values at a time when `by8` (the
/// row length is a multiple of 8 and the data 16-byte aligned: vector loads), else one
/// value at a time.
template <typename F>
bool visit_block(TensorType type, bool by8, F&& f) {
  using T = TensorType;
  // clang-format off
  switch (type) {
    case T::F32: by8 ? f(F32Block<8>{}) : f(F32Block<1>{}); return true;
    case T::F16: by8 ? f(F16Block<8>{}) : f(F16Block<1>{}); return true;
    case T::BF16: by8 ? f(BF16Block<8>{}) : f(BF16Block<1>{}); return true;
    case T::Q4_0: f(BlockQ4_0{}); return true;
    case T::Q4_1: f(BlockQ4_1{}); return true;
    case T::Q5_0: f(BlockQ5_0{}); return true;
    case T::Q5_1: f(BlockQ5_1{}); return true;
    case T::Q8_0: f(BlockQ8_0{}); return true;
    case T::Q2_K: f(BlockQ2_K{}); return true;
    case T::Q3_K: f(BlockQ3_K{}); return true;
    case T::Q4_K: f(BlockQ4_K{}); return true;
    case T::Q5_K: f(BlockQ5_K{}); return true;
    case T::Q6_K: f(BlockQ6_K{}); return true;
    case T::IQ4_NL: f(BlockIQ4_NL{}); return true;
    case T::IQ4_XS: f(BlockIQ4_XS{}); return true;
    default: return false;
  }
  // clang-format on
}

/// Values one dequant8 call produces for a block type (8, or the plain block's length).
template <typename Block>
inline constexpr int kChunkValues =
    BlockGeometry<Block>::kValues < 8 ? BlockGeometry<Block>::kValues : 8;

/// Values c * kChunkValues .. + kChunkValues of a row of blocks (get_rows, dequant_f16).
template <typename Block>
TERN_HD void dequant_chunk(const Block* row, int64_t c, float* v) {
  constexpr int kChunks = BlockGeometry<Block>::kValues / kChunkValues<Block>;
  dequant8(row[c / kChunks], static_cast<int>(c % kChunks), v);
}

/// One lane's share of kTokens dot products of a weight row (n_blocks blocks) with
/// activation rows: lane `lane` of `lanes` takes units lane, lane + lanes, ... and adds
/// its partial sums to acc[t]; the lanes' sums together are the whole products.
/// Quantized blocks: `x` is ActBlock rows, x_stride ActBlocks apart. Plain blocks: `x` is
/// float rows, x_stride floats apart.
template <typename Block, int kTokens>
TERN_HD void row_dot(const Block* row, int64_t n_blocks, const void* x, int64_t x_stride, int lane,
                     int lanes, float* acc) {
  using G = BlockGeometry<Block>;
  if constexpr (G::kQuantized) {
    constexpr int kUnits = G::kValues / G::kUnitValues;
    constexpr int kActPerBlock = G::kValues / kBlock32;
    const auto* act = static_cast<const ActBlock*>(x);
    TERN_UNROLL_2  // two units' loads in flight per lane
    for (int64_t u = lane; u < n_blocks * kUnits; u += lanes) {
      const int64_t b = u / kUnits;
      const int sub = static_cast<int>(u % kUnits);
      TERN_UNROLL
      for (int t = 0; t < kTokens; ++t) {
        acc[t] += block_dot(row[b], sub, act + t * x_stride + b * kActPerBlock);
      }
    }
  } else {
    const auto* xf = static_cast<const float*>(x);
    for (int64_t b = lane; b < n_blocks; b += lanes) {
      float w[G::kValues];
      dequant8(row[b], 0, w);
      TERN_UNROLL
      for (int t = 0; t < kTokens; ++t) {
        const float* xt = xf + t * x_stride + b * G::kValues;
        TERN_UNROLL
        for (int k = 0; k < G::kValues; ++k) acc[t] += w[k] * xt[k];
      }
    }
  }
}

}  // namespace tern::cuda
