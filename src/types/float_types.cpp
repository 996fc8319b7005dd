#include "types/float_types.h"

#include <cmath>

namespace tern {

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    return sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u);
  }
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: overflow to inf
  if (abs < 0x38800000u) {
    // Result is subnormal (or zero) in half: scale to the half subnormal unit 2^-24,
    // rounding to nearest even in float arithmetic.
    float a;
    std::memcpy(&a, &abs, 4);
    float scaled = std::nearbyint(a * 16777216.0f);  // default rounding mode: ties to even
    return sign | static_cast<uint16_t>(scaled);
  }
  // Normal: drop 13 mantissa bits with round to nearest even; carries into the exponent
  // are correct by construction.
  uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return sign | static_cast<uint16_t>((rounded - 0x38000000u) >> 13);
}

uint16_t f32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

void f32_to_float(const void* blocks, float* out, int64_t n) {
  std::memcpy(out, blocks, static_cast<size_t>(n) * 4);
}

void f32_from_float(const float* in, void* blocks, int64_t n) {
  std::memcpy(blocks, in, static_cast<size_t>(n) * 4);
}

void f16_to_float(const void* blocks, float* out, int64_t n) {
  const auto* src = static_cast<const uint8_t*>(blocks);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    out[i] = f16_to_f32(h);
  }
}

void f16_from_float(const float* in, void* blocks, int64_t n) {
  auto* dst = static_cast<uint8_t*>(blocks);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h = f32_to_f16(in[i]);
    std::memcpy(dst + 2 * i, &h, 2);
  }
}

void bf16_to_float(const void* blocks, float* out, int64_t n) {
  const auto* src = static_cast<const uint8_t*>(blocks);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t b;
    std::memcpy(&b, src + 2 * i, 2);
    out[i] = bf16_to_f32(b);
  }
}

void bf16_from_float(const float* in, void* blocks, int64_t n) {
  auto* dst = static_cast<uint8_t*>(blocks);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t b = f32_to_bf16(in[i]);
    std::memcpy(dst + 2 * i, &b, 2);
  }
}

void f64_to_float(const void* blocks, float* out, int64_t n) {
  const auto* src = static_cast<const uint8_t*>(blocks);
  for (int64_t i = 0; i < n; ++i) {
    double v;
    std::memcpy(&v, src + 8 * i, 8);
    out[i] = static_cast<float>(v);
  }
}

}  // namespace tern
