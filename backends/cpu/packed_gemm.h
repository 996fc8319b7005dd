// Prompt-sized matrix products (many tokens at once) through one integer GEMM for every
// packable weight type. Each task unpacks a tile of weight rows (the level's
// packed_tile_rows()) into signed or unsigned bytes interleaved 4 values at a time, with
// per-32-value float scales (and minimums, and per-16 integer sub-scales where the type has them);
// the activations are quantized once to int8 blocks of 32 with float scales. The inner step
// multiplies a tile vector by 4 broadcast activation bytes: 8 (AVX2) or 16 rows x 4 values
// per instruction, integer-exact within a block. Unpacking a tile from the file's blocks costs
// about as much as one token's dot products, so this path is for micro-batches
// (prefer_packed_gemm); tiles of interleaved weights (repack.h) are nearly free.
// Decoding goes through matmul.cpp.
#pragma once

#include <cstdint>
#include <span>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/matmul.h"
#include "types/type_table.h"

namespace tern::cpu {

/// The fewest tokens any packed type takes the packed GEMM for (below, the row kernels).
inline constexpr int64_t kMinPackedTokens = 16;

/// Whether `type` has a packed format and `isa` a kernel for it.
bool has_packed_gemm(TensorType type, Isa isa);

/// Whether packed_matmuls is the faster path for n tokens through these targets: each type
/// has a packed form and n reaches each type's threshold (kMinPackedTokens for the legacy
/// types; more for K-quants, whose tiles cost more to unpack; measured with bench_kernels'
/// prompt/ entries); targets with interleaved weights (repack.h) from 2 tokens on.
bool prefer_packed_gemm(std::span<const MatmulTarget> targets, int64_t n, Isa isa);

/// As simd_matmuls (every target's y (n, rows) = x (n, cols) @ W^T), for targets that all
/// satisfy has_packed_gemm. cols must be a multiple of every target type's block size.
void packed_matmuls(std::span<const MatmulTarget> targets, int64_t cols, const float* x, int64_t n,
                    int n_threads, Isa isa);

}  // namespace tern::cpu
