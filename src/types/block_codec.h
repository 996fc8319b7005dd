// Adapters from per-block codecs to the type table's whole-row signatures, plus the
// rounding helpers every quantizer shares.
#pragma once

#include <cstdint>
#include <cstring>

namespace tern {

/// Row decoder over `n / kValues` consecutive blocks: out[n] from blocks.
template <typename Block, int kValues, void (*kDecode)(const Block&, float*)>
void decode_blocks(const void* blocks, float* out, int64_t n) {
  const auto* b = static_cast<const Block*>(blocks);
  for (int64_t i = 0; i < n / kValues; ++i) kDecode(b[i], out + i * kValues);
}

/// Row encoder: blocks from in[n], one block per kValues inputs.
template <typename Block, int kValues, void (*kEncode)(const float*, Block&)>
void encode_blocks(const float* in, void* blocks, int64_t n) {
  auto* b = static_cast<Block*>(blocks);
  for (int64_t i = 0; i < n / kValues; ++i) kEncode(in + i * kValues, b[i]);
}

/// Round to nearest, ties to even, as ggml's quantizers do (adding 1.5 * 2^23 leaves the
/// integer in the low mantissa bits). Meaningful for |x| < 2^22; defined for any input.
inline int nearest_int(float x) {
  float shifted = x + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, 4);
  return (bits & 0x007fffff) - 0x00400000;
}

/// Largest-magnitude element of x[n], keeping its sign (0 when all are zero).
inline float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i) {
    float ax = x[i] < 0 ? -x[i] : x[i];
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  return max;
}

}  // namespace tern
