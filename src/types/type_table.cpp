#include "types/type_table.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "tern/error.h"
#include "types/float_types.h"

namespace tern {

namespace {

using T = TensorType;

// Block geometry from the GGUF/ggml format definitions. Reference conversions live in
// one file per quant family; the entries left null get filled as families land.
constexpr std::array kTypes = {
    TypeTraits{T::F32, "F32", 1, 4, f32_to_float, f32_from_float},
    TypeTraits{T::F16, "F16", 1, 2, f16_to_float, f16_from_float},
    TypeTraits{T::Q4_0, "Q4_0", 32, 18, nullptr, nullptr},
    TypeTraits{T::Q4_1, "Q4_1", 32, 20, nullptr, nullptr},
    TypeTraits{T::Q5_0, "Q5_0", 32, 22, nullptr, nullptr},
    TypeTraits{T::Q5_1, "Q5_1", 32, 24, nullptr, nullptr},
    TypeTraits{T::Q8_0, "Q8_0", 32, 34, nullptr, nullptr},
    TypeTraits{T::Q8_1, "Q8_1", 32, 36, nullptr, nullptr},
    TypeTraits{T::Q2_K, "Q2_K", 256, 84, nullptr, nullptr},
    TypeTraits{T::Q3_K, "Q3_K", 256, 110, nullptr, nullptr},
    TypeTraits{T::Q4_K, "Q4_K", 256, 144, nullptr, nullptr},
    TypeTraits{T::Q5_K, "Q5_K", 256, 176, nullptr, nullptr},
    TypeTraits{T::Q6_K, "Q6_K", 256, 210, nullptr, nullptr},
    TypeTraits{T::Q8_K, "Q8_K", 256, 292, nullptr, nullptr},
    TypeTraits{T::IQ2_XXS, "IQ2_XXS", 256, 66, nullptr, nullptr},
    TypeTraits{T::IQ2_XS, "IQ2_XS", 256, 74, nullptr, nullptr},
    TypeTraits{T::IQ3_XXS, "IQ3_XXS", 256, 98, nullptr, nullptr},
    TypeTraits{T::IQ1_S, "IQ1_S", 256, 50, nullptr, nullptr},
    TypeTraits{T::IQ4_NL, "IQ4_NL", 32, 18, nullptr, nullptr},
    TypeTraits{T::IQ3_S, "IQ3_S", 256, 110, nullptr, nullptr},
    TypeTraits{T::IQ2_S, "IQ2_S", 256, 82, nullptr, nullptr},
    TypeTraits{T::IQ4_XS, "IQ4_XS", 256, 136, nullptr, nullptr},
    TypeTraits{T::I8, "I8", 1, 1, nullptr, nullptr},
    TypeTraits{T::I16, "I16", 1, 2, nullptr, nullptr},
    TypeTraits{T::I32, "I32", 1, 4, nullptr, nullptr},
    TypeTraits{T::I64, "I64", 1, 8, nullptr, nullptr},
    TypeTraits{T::F64, "F64", 1, 8, nullptr, nullptr},
    TypeTraits{T::IQ1_M, "IQ1_M", 256, 56, nullptr, nullptr},
    TypeTraits{T::BF16, "BF16", 1, 2, bf16_to_float, bf16_from_float},
    TypeTraits{T::TQ1_0, "TQ1_0", 256, 54, nullptr, nullptr},
    TypeTraits{T::TQ2_0, "TQ2_0", 256, 66, nullptr, nullptr},
    TypeTraits{T::MXFP4, "MXFP4", 32, 17, nullptr, nullptr},
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

}  // namespace tern

namespace tern {

void dequantize(TensorType type, const void* blocks, float* out, int64_t n) {
  const TypeTraits& traits = type_traits(type);
  if (traits.to_float == nullptr) {
    throw Error(fmt::format("tensor type {} has no float conversion", traits.name));
  }
  traits.to_float(blocks, out, n);
}

}  // namespace tern
