#include "backends/cpu/type_kernels.h"

#include "backends/cpu/packed_gemm.h"
#include "backends/cpu/row_kernels.h"
#include "types/blocks.h"

namespace tern::cpu {

namespace {

using T = TensorType;

// Types absent here (the IQ grids, ternary, MXFP4, integers) have no CPU kernels: the
// backend runs them through the scalar reference path.
// - avx2, avx512: the row kernels (row_kernels.h) {dot, quantize, dot_tile, dot_rows, tile_rows};
// - repack: group block bytes, file -> group, group -> tile, the levels' decode kernels;
// - packed: unpacker, max |q|, signed, has a minimum, has sub-scales, fewest tokens (the
//   K-quants' tiles cost more to unpack, so they take the GEMM later; bench_kernels
//   prompt/). Q2_K (per-16 minimums) and the IQ grids have no packed form.
constexpr TypeKernels kTable[] = {
    {.type = T::F32,
     .avx2 = {avx2::dot_f32, nullptr, avx2::dot_tile_f32, avx2::dot_f32_rows, avx2::kFloatTileRows},
     .avx512 = {avx512::dot_f32, nullptr, avx512::dot_tile_f32, avx512::dot_f32_rows,
                avx512::kFloatTileRows}},
    {.type = T::F16,
     .avx2 = {avx2::dot_f16, nullptr, avx2::dot_tile_f16, avx2::dot_f16_rows, avx2::kFloatTileRows},
     .avx512 = {avx512::dot_f16, nullptr, avx512::dot_tile_f16, avx512::dot_f16_rows,
                avx512::kFloatTileRows}},
    {.type = T::BF16,
     .avx2 = {avx2::dot_bf16, nullptr, avx2::dot_tile_bf16, avx2::dot_bf16_rows,
              avx2::kFloatTileRows},
     .avx512 = {avx512::dot_bf16, nullptr, avx512::dot_tile_bf16, avx512::dot_bf16_rows,
                avx512::kFloatTileRows}},
    {.type = T::Q4_0,
     .vec_dot_type = T::Q8_0,
     .avx2 = {avx2::dot_q4_0, nullptr, avx2::dot_tile_q4_0, avx2::dot_q4_0_rows},
     .avx512 = {avx512::dot_q4_0, nullptr, avx512::dot_tile_q4_0, avx512::dot_q4_0_rows},
     .repack = {sizeof(BlockQ4_0x8), repack_nibbles<BlockQ4_0, BlockQ4_0x8>,
                tile_nibbles<BlockQ4_0x8>, avx2::gemv_q4_0x8, avx512::gemv_q4_0x8},
     .packed = {unpack_legacy<BlockQ4_0>, 15, false, true, false, kMinPackedTokens}},
    {.type = T::Q4_1,
     .vec_dot_type = T::Q8_1,
     .avx2 = {avx2::dot_q4_1, nullptr, avx2::dot_tile_q4_1, avx2::dot_q4_1_rows},
     .avx512 = {avx512::dot_q4_1, nullptr, avx512::dot_tile_q4_1, avx512::dot_q4_1_rows},
     .repack = {sizeof(BlockQ4_1x8), repack_nibbles<BlockQ4_1, BlockQ4_1x8>,
                tile_nibbles<BlockQ4_1x8>, avx2::gemv_q4_1x8, avx512::gemv_q4_1x8},
     .packed = {unpack_legacy<BlockQ4_1>, 15, false, true, false, kMinPackedTokens}},
    {.type = T::Q5_0,
     .vec_dot_type = T::Q8_0,
     .avx2 = {avx2::dot_q5_0, nullptr, avx2::dot_tile_q5_0, avx2::dot_q5_0_rows},
     .avx512 = {avx512::dot_q5_0, nullptr, avx512::dot_tile_q5_0, avx512::dot_q5_0_rows},
     .repack = {sizeof(BlockQ5_0x8), repack_nibbles<BlockQ5_0, BlockQ5_0x8>,
                tile_nibbles<BlockQ5_0x8>, avx2::gemv_q5_0x8, avx512::gemv_q5_0x8},
     .packed = {unpack_legacy<BlockQ5_0>, 31, false, true, false, kMinPackedTokens}},
    {.type = T::Q5_1,
     .vec_dot_type = T::Q8_1,
     .avx2 = {avx2::dot_q5_1, nullptr, avx2::dot_tile_q5_1, avx2::dot_q5_1_rows},
     .avx512 = {avx512::dot_q5_1, nullptr, avx512::dot_tile_q5_1, avx512::dot_q5_1_rows},
     .repack = {sizeof(BlockQ5_1x8), repack_nibbles<BlockQ5_1, BlockQ5_1x8>,
                tile_nibbles<BlockQ5_1x8>, avx2::gemv_q5_1x8, avx512::gemv_q5_1x8},
     .packed = {unpack_legacy<BlockQ5_1>, 31, false, true, false, kMinPackedTokens}},
    {.type = T::Q8_0,
     .vec_dot_type = T::Q8_0,
     .avx2 = {avx2::dot_q8_0, avx2::quantize_q8_0, avx2::dot_tile_q8_0, avx2::dot_q8_0_rows},
     .avx512 = {avx512::dot_q8_0, avx512::quantize_q8_0, avx512::dot_tile_q8_0,
                avx512::dot_q8_0_rows},
     .repack = {sizeof(BlockQ8_0x8), repack_q8_0, tile_q8_0, avx2::gemv_q8_0x8,
                avx512::gemv_q8_0x8},
     .packed = {unpack_q8_0, 128, true, false, false, 32}},
    {.type = T::Q8_1,
     .avx2 = {.quantize = avx2::quantize_q8_1},
     .avx512 = {.quantize = avx512::quantize_q8_1}},
    {.type = T::Q2_K,
     .vec_dot_type = T::Q8_K,
     .avx2 = {avx2::dot_q2_k, nullptr, nullptr, avx2::dot_q2_k_rows},
     .avx512 = {avx512::dot_q2_k, nullptr, nullptr, avx512::dot_q2_k_rows}},
    {.type = T::Q3_K,
     .vec_dot_type = T::Q8_K,
     .avx2 = {avx2::dot_q3_k, nullptr, nullptr, avx2::dot_q3_k_rows},
     .avx512 = {avx512::dot_q3_k, nullptr, nullptr, avx512::dot_q3_k_rows},
     .packed = {unpack_q3_k, 4, true, false, true, 64}},
    {.type = T::Q4_K,
     .vec_dot_type = T::Q8_K,
     .avx2 = {avx2::dot_q4_k, nullptr, nullptr, avx2::dot_q4_k_rows},
     .avx512 = {avx512::dot_q4_k, nullptr, nullptr, avx512::dot_q4_k_rows},
     .repack = {sizeof(BlockQ4_Kx8), repack_q4_k, tile_q4_k, avx2::gemv_q4_kx8,
                avx512::gemv_q4_kx8},
     .packed = {unpack_q45_k<BlockQ4_K>, 15, false, true, false, 64, true}},
    {.type = T::Q5_K,
     .vec_dot_type = T::Q8_K,
     .avx2 = {avx2::dot_q5_k, nullptr, nullptr, avx2::dot_q5_k_rows},
     .avx512 = {avx512::dot_q5_k, nullptr, nullptr, avx512::dot_q5_k_rows},
     .packed = {unpack_q45_k<BlockQ5_K>, 31, false, true, false, 64, true}},
    {.type = T::Q6_K,
     .vec_dot_type = T::Q8_K,
     .avx2 = {avx2::dot_q6_k, nullptr, nullptr, avx2::dot_q6_k_rows},
     .avx512 = {avx512::dot_q6_k, nullptr, nullptr, avx512::dot_q6_k_rows},
     .repack = {sizeof(BlockQ6_Kx8), repack_q6_k, tile_q6_k, avx2::gemv_q6_kx8,
                avx512::gemv_q6_kx8},
     .packed = {unpack_q6_k, 32, true, false, true, 128}},
    {.type = T::Q8_K,
     .avx2 = {.quantize = avx2::quantize_q8_k},
     .avx512 = {.quantize = avx512::quantize_q8_k}},
    {.type = T::IQ4_NL,
     .vec_dot_type = T::Q8_0,
     .avx2 = {avx2::dot_iq4_nl, nullptr, avx2::dot_tile_iq4_nl, avx2::dot_iq4_nl_rows},
     .avx512 = {avx512::dot_iq4_nl, nullptr, avx512::dot_tile_iq4_nl, avx512::dot_iq4_nl_rows},
     .packed = {unpack_iq4_nl, 127, true, false, false, kMinPackedTokens}},
    // |q| <= 12, but the packed form says 127: signed tiles take steps of one, as IQ4_NL's.
    {.type = T::MXFP4,
     .vec_dot_type = T::Q8_0,
     .avx2 = {avx2::dot_mxfp4, nullptr, avx2::dot_tile_mxfp4, avx2::dot_mxfp4_rows},
     .avx512 = {avx512::dot_mxfp4, nullptr, avx512::dot_tile_mxfp4, avx512::dot_mxfp4_rows},
     .packed = {unpack_mxfp4, 127, true, false, false, kMinPackedTokens}},
    {.type = T::IQ4_XS,
     .vec_dot_type = T::Q8_K,
     .avx2 = {avx2::dot_iq4_xs, nullptr, nullptr, avx2::dot_iq4_xs_rows},
     .avx512 = {avx512::dot_iq4_xs, nullptr, nullptr, avx512::dot_iq4_xs_rows},
     .packed = {unpack_iq4_xs, 127, true, false, false, 64}},
};

}  // namespace

const TypeKernels& type_kernels(TensorType type) {
  for (const auto& k : kTable) {
    if (k.type == type) return k;
  }
  static constexpr TypeKernels kNone{.type = T::F32};  // all null; `type` is not read
  return kNone;
}

const SimdKernels& simd_kernels(TensorType type, Isa isa) {
  static constexpr SimdKernels kNone;
  switch (isa) {
    case Isa::Avx2:
      return type_kernels(type).avx2;
    case Isa::Avx512:
    case Isa::Amx:
      return type_kernels(type).avx512;
    case Isa::Scalar:
      break;
  }
  return kNone;
}

bool rounds_activations_to_bf16(TensorType type, Isa isa) {
  return type == T::BF16 && isa >= Isa::Avx512 && has_avx512_bf16();
}

GroupGemvFn group_gemv(TensorType type, Isa isa) {
  const RepackForm& f = type_kernels(type).repack;
  switch (isa) {
    case Isa::Avx2:
      return f.avx2;
    case Isa::Avx512:
    case Isa::Amx:
      return f.avx512;
    case Isa::Scalar:
      break;
  }
  return nullptr;
}

}  // namespace tern::cpu
