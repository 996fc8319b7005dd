// Plain floating-point element types: F32, F16 (IEEE half), BF16 (bfloat16).
#pragma once

#include <cstdint>
#include <cstring>

namespace tern {

/// IEEE half -> float, exact for every input including subnormals, inf and NaN.
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal half: normalise the mantissa.
    int shift = 0;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      ++shift;
    }
    bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// float -> IEEE half, round to nearest even (as numpy's float16 cast does).
uint16_t f32_to_f16(float f);

inline float bf16_to_f32(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// float -> bfloat16, round to nearest even; NaN stays a quiet NaN.
uint16_t f32_to_bf16(float f);

void f32_to_float(const void* blocks, float* out, int64_t n);
void f32_from_float(const float* in, void* blocks, int64_t n);
void f16_to_float(const void* blocks, float* out, int64_t n);
void f16_from_float(const float* in, void* blocks, int64_t n);
void bf16_to_float(const void* blocks, float* out, int64_t n);
void bf16_from_float(const float* in, void* blocks, int64_t n);
/// F64 -> float, rounding to nearest (overflow gives inf).
void f64_to_float(const void* blocks, float* out, int64_t n);

}  // namespace tern
