#include "types/type_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "tern/error.h"
#include "types/block_codec.h"
#include "types/blocks.h"
#include "types/float_types.h"
#include "types/quant_iq.h"
#include "types/quant_k.h"
#include "types/quant_legacy.h"
#include "types/quant_mxfp4.h"
#include "types/quant_ternary.h"

namespace tern {

namespace {

using T = TensorType;

// Per-block decoders/encoders adapted to whole rows; block bytes come from the structs in
// blocks.h (whose sizes are static_asserted against the GGUF format).
template <typename Block, int kValues, void (*kDecode)(const Block&, float*)>
constexpr ToFloatFn kDec = decode_blocks<Block, kValues, kDecode>;
template <typename Block, int kValues, void (*kEncode)(const float*, Block&)>
constexpr FromFloatFn kEnc = encode_blocks<Block, kValues, kEncode>;

constexpr int kB = kBlock32;
constexpr int kK = kSuperBlock;

// Integer types have no float conversion. Quantizers exist where a reference algorithm is
// defined (ggml's reference quantizers); the IQ2/IQ3/IQ1 lattice searches are not here.
// Each backend's kernels per type live in its own table (backends/cpu/type_kernels.cpp).
constexpr std::array kTypes = {
    TypeTraits{T::F32, "F32", 1, 4, f32_to_float, f32_from_float},
    TypeTraits{T::F16, "F16", 1, 2, f16_to_float, f16_from_float},
    TypeTraits{T::Q4_0, "Q4_0", kB, sizeof(BlockQ4_0), kDec<BlockQ4_0, kB, decode_q4_0>,
               kEnc<BlockQ4_0, kB, encode_q4_0>},
    TypeTraits{T::Q4_1, "Q4_1", kB, sizeof(BlockQ4_1), kDec<BlockQ4_1, kB, decode_q4_1>,
               kEnc<BlockQ4_1, kB, encode_q4_1>},
    TypeTraits{T::Q5_0, "Q5_0", kB, sizeof(BlockQ5_0), kDec<BlockQ5_0, kB, decode_q5_0>,
               kEnc<BlockQ5_0, kB, encode_q5_0>},
    TypeTraits{T::Q5_1, "Q5_1", kB, sizeof(BlockQ5_1), kDec<BlockQ5_1, kB, decode_q5_1>,
               kEnc<BlockQ5_1, kB, encode_q5_1>},
    TypeTraits{T::Q8_0, "Q8_0", kB, sizeof(BlockQ8_0), kDec<BlockQ8_0, kB, decode_q8_0>,
               kEnc<BlockQ8_0, kB, encode_q8_0>},
    TypeTraits{T::Q8_1, "Q8_1", kB, sizeof(BlockQ8_1), kDec<BlockQ8_1, kB, decode_q8_1>, nullptr},
    TypeTraits{T::Q2_K, "Q2_K", kK, sizeof(BlockQ2_K), kDec<BlockQ2_K, kK, decode_q2_k>,
               kEnc<BlockQ2_K, kK, encode_q2_k>},
    TypeTraits{T::Q3_K, "Q3_K", kK, sizeof(BlockQ3_K), kDec<BlockQ3_K, kK, decode_q3_k>,
               kEnc<BlockQ3_K, kK, encode_q3_k>},
    TypeTraits{T::Q4_K, "Q4_K", kK, sizeof(BlockQ4_K), kDec<BlockQ4_K, kK, decode_q4_k>,
               kEnc<BlockQ4_K, kK, encode_q4_k>},
    TypeTraits{T::Q5_K, "Q5_K", kK, sizeof(BlockQ5_K), kDec<BlockQ5_K, kK, decode_q5_k>,
               kEnc<BlockQ5_K, kK, encode_q5_k>},
    TypeTraits{T::Q6_K, "Q6_K", kK, sizeof(BlockQ6_K), kDec<BlockQ6_K, kK, decode_q6_k>,
               kEnc<BlockQ6_K, kK, encode_q6_k>},
    TypeTraits{T::Q8_K, "Q8_K", kK, sizeof(BlockQ8_K), kDec<BlockQ8_K, kK, decode_q8_k>,
               kEnc<BlockQ8_K, kK, encode_q8_k>},
    TypeTraits{T::IQ2_XXS, "IQ2_XXS", kK, sizeof(BlockIQ2_XXS),
               kDec<BlockIQ2_XXS, kK, decode_iq2_xxs>, nullptr},
    TypeTraits{T::IQ2_XS, "IQ2_XS", kK, sizeof(BlockIQ2_XS), kDec<BlockIQ2_XS, kK, decode_iq2_xs>,
               nullptr},
    TypeTraits{T::IQ3_XXS, "IQ3_XXS", kK, sizeof(BlockIQ3_XXS),
               kDec<BlockIQ3_XXS, kK, decode_iq3_xxs>, nullptr},
    TypeTraits{T::IQ1_S, "IQ1_S", kK, sizeof(BlockIQ1_S), kDec<BlockIQ1_S, kK, decode_iq1_s>,
               nullptr},
    TypeTraits{T::IQ4_NL, "IQ4_NL", kB, sizeof(BlockIQ4_NL), kDec<BlockIQ4_NL, kB, decode_iq4_nl>,
               kEnc<BlockIQ4_NL, kB, encode_iq4_nl>},
    TypeTraits{T::IQ3_S, "IQ3_S", kK, sizeof(BlockIQ3_S), kDec<BlockIQ3_S, kK, decode_iq3_s>,
               nullptr},
    TypeTraits{T::IQ2_S, "IQ2_S", kK, sizeof(BlockIQ2_S), kDec<BlockIQ2_S, kK, decode_iq2_s>,
               nullptr},
    TypeTraits{T::IQ4_XS, "IQ4_XS", kK, sizeof(BlockIQ4_XS), kDec<BlockIQ4_XS, kK, decode_iq4_xs>,
               kEnc<BlockIQ4_XS, kK, encode_iq4_xs>},
    TypeTraits{T::I8, "I8", 1, 1, nullptr, nullptr},
    TypeTraits{T::I16, "I16", 1, 2, nullptr, nullptr},
    TypeTraits{T::I32, "I32", 1, 4, nullptr, nullptr},
    TypeTraits{T::I64, "I64", 1, 8, nullptr, nullptr},
    TypeTraits{T::F64, "F64", 1, 8, f64_to_float, nullptr},
    TypeTraits{T::IQ1_M, "IQ1_M", kK, sizeof(BlockIQ1_M), kDec<BlockIQ1_M, kK, decode_iq1_m>,
               nullptr},
    TypeTraits{T::BF16, "BF16", 1, 2, bf16_to_float, bf16_from_float},
    TypeTraits{T::TQ1_0, "TQ1_0", kK, sizeof(BlockTQ1_0), kDec<BlockTQ1_0, kK, decode_tq1_0>,
               kEnc<BlockTQ1_0, kK, encode_tq1_0>},
    TypeTraits{T::TQ2_0, "TQ2_0", kK, sizeof(BlockTQ2_0), kDec<BlockTQ2_0, kK, decode_tq2_0>,
               kEnc<BlockTQ2_0, kK, encode_tq2_0>},
    TypeTraits{T::MXFP4, "MXFP4", kB, sizeof(BlockMXFP4), kDec<BlockMXFP4, kB, decode_mxfp4>,
               kEnc<BlockMXFP4, kB, encode_mxfp4>},
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

}  // namespace

const TypeTraits* find_type(uint32_t id) {
  for (const auto& traits : kTypes) {
    if (static_cast<uint32_t>(traits.type) == id) return &traits;
  }
  return nullptr;
}

const TypeTraits* find_type(std::string_view name) {
  for (const auto& traits : kTypes) {
    if (iequals(traits.name, name)) return &traits;
  }
  return nullptr;
}

const TypeTraits& type_traits(TensorType type) { return *find_type(static_cast<uint32_t>(type)); }

std::span<const TypeTraits> all_types() { return kTypes; }

std::optional<size_t> row_bytes(TensorType type, int64_t n) {
  const TypeTraits& traits = type_traits(type);
  if (n < 0 || n % traits.block_size != 0) return std::nullopt;
  return static_cast<size_t>(n / traits.block_size) * traits.block_bytes;
}

size_t checked_row_bytes(TensorType type, int64_t n) {
  auto bytes = row_bytes(type, n);
  if (!bytes) {
    throw Error(
        fmt::format("{} rows of {} values are not whole blocks", type_traits(type).name, n));
  }
  return *bytes;
}

}  // namespace tern

namespace tern {

void dequantize(TensorType type, const void* blocks, float* out, int64_t n) {
  const TypeTraits& traits = type_traits(type);
  if (traits.to_float == nullptr) {
    throw Error(fmt::format("tensor type {} has no float conversion", traits.name));
  }
  traits.to_float(blocks, out, n);
}

std::vector<uint8_t> convert_rows(TensorType type, const void* rows, int64_t n_rows, int64_t cols,
                                  TensorType to) {
  if (to != TensorType::F32 && to != TensorType::F16) {
    throw Error(fmt::format("convert_rows: {} is not F32 or F16", type_traits(to).name));
  }
  size_t src_row = checked_row_bytes(type, cols);
  size_t dst_row = checked_row_bytes(to, cols);
  std::vector<uint8_t> out(dst_row * static_cast<size_t>(n_rows));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < n_rows; ++r) {
    dequantize(type, static_cast<const uint8_t*>(rows) + src_row * static_cast<size_t>(r), row.data(),
               cols);
    type_traits(to).from_float(row.data(), out.data() + dst_row * static_cast<size_t>(r), cols);
  }
  return out;
}

}  // namespace tern
