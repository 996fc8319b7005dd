// The one table of tensor types: ids as GGUF stores them, block geometry, and the
// scalar reference conversions, the same for every backend. Nothing else in tern switches
// on a tensor type; a backend's kernels per type sit in its own table
// (backends/cpu/type_kernels.h for the CPU).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace tern {

/// Tensor type ids exactly as GGUF (ggml_type) numbers them; gaps are retired ids.
enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

/// Converts `n` values (a multiple of the block size) from a type's blocks to float.
using ToFloatFn = void (*)(const void* blocks, float* out, int64_t n);
/// Converts `n` floats (a multiple of the block size) into a type's blocks.
using FromFloatFn = void (*)(const float* in, void* blocks, int64_t n);

struct TypeTraits {
  TensorType type;
  std::string_view name;   // as GGUF tools print it: "Q4_K", "F16"...
  int64_t block_size;      // values per block (1 for plain types)
  size_t block_bytes;      // bytes per block
  ToFloatFn to_float;      // scalar reference; nullptr for integer types
  FromFloatFn from_float;  // scalar reference quantizer; nullptr where there is none
};

/// The traits of a type id read from a file, or nullptr for an unknown/retired id.
const TypeTraits* find_type(uint32_t id);
/// The traits of a type given by name ("q4_k" or "Q4_K"), or nullptr.
const TypeTraits* find_type(std::string_view name);
/// The traits of a known type.
const TypeTraits& type_traits(TensorType type);
/// Every known type, in id order.
std::span<const TypeTraits> all_types();

/// Bytes of one row of `n` values, or nullopt when n is not a multiple of the block size.
std::optional<size_t> row_bytes(TensorType type, int64_t n);

/// row_bytes for rows that must be whole blocks: throws tern::Error naming the type otherwise.
size_t checked_row_bytes(TensorType type, int64_t n);

}  // namespace tern

namespace tern {

/// Converts `n` values of `type` (a multiple of its block size) to float with the scalar
/// reference. Throws tern::Error for types without a float conversion (integer types).
void dequantize(TensorType type, const void* blocks, float* out, int64_t n);

/// n_rows rows of cols values of `type` (the file's layout) dequantized into `to` (F32 or
/// F16, rounded to nearest even): what GPU backends upload for types without kernels.
std::vector<uint8_t> convert_rows(TensorType type, const void* rows, int64_t n_rows, int64_t cols,
                                  TensorType to);

}  // namespace tern
