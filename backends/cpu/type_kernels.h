// The CPU backend's table of tensor types: for each type its kernels and forms on this
// backend (the activation format its dots read, the row kernels of each SIMD level, the
// interleaved form of repack.h and the packed GEMM form of packed_gemm.h). The shared type
// table (types/type_table.h) keeps what every backend agrees on; per-type CPU behaviour
// comes from here, so nothing in the CPU backend switches on a weight type.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/packed_gemm_kernels.h"
#include "backends/cpu/repack_kernels.h"
#include "types/type_table.h"

namespace tern::cpu {

/// Most activation rows one DotFn call takes.
inline constexpr int kMaxDotRows = 4;

/// Dot products of one weight row (n values of its type) with n_x activation rows (n values
/// each in the type's vec_dot_type, x_stride bytes apart): out[j] = w . x_j. Any n_x >= 1;
/// kernels take up to kMaxDotRows rows per pass over the weight row.
using DotFn = void (*)(int64_t n, const void* w, const void* x, size_t x_stride, int n_x,
                       float* out);

/// Dot products of n_w weight rows (w and every w_stride bytes after it) with ONE activation
/// row x: y[r] = w_r . x. The decode kernel (one token): each activation block is loaded
/// once for several weight rows, whose independent accumulators hide the FMA latency.
using DotRowsFn = void (*)(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,
                           float* y);

/// Dot products of a tile's weight rows (SimdKernels::tile_rows of them: w, w + w_stride
/// bytes, ...) with n_x activation rows: y[j * y_stride + r] = w_r . x_j. A register tile
/// for prompts: each activation block is loaded once for every row of the tile (kernels
/// take up to kMaxDotRows per pass).
using DotTileFn = void (*)(int64_t n, const void* w, size_t w_stride, const void* x,
                           size_t x_stride, int n_x, float* y, int64_t y_stride);

/// Whether `isa`'s kernels for `type` round the float activations to BF16 (vdpbf16ps): BF16
/// weights at the AVX512 level of a CPU with AVX512_BF16, as llama.cpp takes them too.
bool rounds_activations_to_bf16(TensorType type, Isa isa);

/// One SIMD level's row kernels for a type (row_kernels.h); null where that level has none
/// (the CPU backend then uses the scalar reference path).
struct SimdKernels {
  DotFn dot = nullptr;             // weight rows of this type . activations in vec_dot_type
  FromFloatFn quantize = nullptr;  // fast from_float (the activation formats Q8_0/Q8_1/Q8_K)
  DotTileFn dot_tile = nullptr;    // several weight rows at a time, where the type has it
  DotRowsFn dot_rows = nullptr;    // one token against many weight rows (set with dot)
  int tile_rows = 2;               // weight rows of a dot_tile call
};

/// y[j * y_stride + 8 g + r] = row r of group g . x[j] for n_groups interleaved groups of
/// n_blocks blocks and the n_x activation rows x[j] (decoding n_x sequences at once).
using GroupGemvFn = void (*)(const void* groups, int64_t n_blocks, int64_t n_groups,
                             const GroupActs* x, int n_x, float* y, int64_t y_stride);

/// A type's interleaved form (repack.h, layouts in repack_kernels.h); absent where
/// repack_group is null.
struct RepackForm {
  size_t group_block_bytes = 0;             // one block of the type for the group's 8 rows
  RepackGroupFn repack_group = nullptr;     // the file's rows -> one group
  GroupBlockUnpackFn tile_block = nullptr;  // one block of a group -> the packed GEMM's tile
  GroupGemvFn avx2 = nullptr;               // the decode kernels of each level
  GroupGemvFn avx512 = nullptr;
};

/// A type's packed GEMM form (packed_gemm.h); absent where unpack is null.
struct PackedForm {
  BlockUnpackFn unpack = nullptr;
  int max_abs_q = 0;  // largest |q| the unpacker can produce
  bool is_signed = false;
  bool has_min = false;
  bool has_sub = false;
  int64_t min_tokens = 0;  // where the GEMM overtakes the row kernels (bench_kernels prompt/)
  // d is a super-block scale times a 6-bit block scale, which the unpacker also gives in
  // sub (Q4_K, Q5_K): the AMX level sums whole super-blocks in integers with it.
  bool scales_in_sub = false;

  /// Whether the tile carries sub (sub-scales, or scales_in_sub's block scales).
  bool carries_sub() const { return has_sub || scales_in_sub; }
};

struct TypeKernels {
  TensorType type;
  // Format activations are converted to for the dot kernels (F32: kept as floats).
  TensorType vec_dot_type = TensorType::F32;
  SimdKernels avx2 = {};    // AVX2 + FMA + F16C
  SimdKernels avx512 = {};  // AVX512 F/BW/VL + VNNI
  RepackForm repack = {};
  PackedForm packed = {};
};

/// The CPU kernels of `type`; a type without any has an entry of nulls (vec_dot_type F32).
const TypeKernels& type_kernels(TensorType type);

/// The row kernels `isa` has for weights of `type` (all null at Isa::Scalar).
const SimdKernels& simd_kernels(TensorType type, Isa isa);

/// The decode kernel of `type`'s interleaved form at `isa`, or nullptr.
GroupGemvFn group_gemv(TensorType type, Isa isa);

}  // namespace tern::cpu
