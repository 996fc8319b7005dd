#include "types/quant_legacy.h"

#include <cmath>

#include "types/block_codec.h"
#include "types/float_types.h"

namespace tern {

namespace {

constexpr int kHalf = kBlock32 / 2;

// Value j < 16 lives in the low nibble of qs[j], value j + 16 in its high nibble.
void unpack_nibbles(const uint8_t* qs, int* q) {
  for (int j = 0; j < kHalf; ++j) {
    q[j] = qs[j] & 0x0f;
    q[j + kHalf] = qs[j] >> 4;
  }
}

void pack_nibbles(const int* q, uint8_t* qs) {
  for (int j = 0; j < kHalf; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | (q[j + kHalf] << 4));
}

// Bit j of the little-endian u32 qh is bit 4 of value j.
void unpack_fifth_bits(const uint8_t* qh, int* q) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  for (int j = 0; j < kBlock32; ++j) q[j] |= static_cast<int>((bits >> j) & 1u) << 4;
}

void pack_fifth_bits(const int* q, uint8_t* qh) {
  uint32_t bits = 0;
  for (int j = 0; j < kBlock32; ++j) bits |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  std::memcpy(qh, &bits, 4);
}

void scale_centered(const int* q, int offset, float d, float* out) {
  for (int j = 0; j < kBlock32; ++j) out[j] = static_cast<float>(q[j] - offset) * d;
}

void scale_int8(const int8_t* qs, float d, float* out) {
  for (int j = 0; j < kBlock32; ++j) out[j] = static_cast<float>(qs[j]) * d;
}

void scale_affine(const int* q, float d, float m, float* out) {
  for (int j = 0; j < kBlock32; ++j) out[j] = static_cast<float>(q[j]) * d + m;
}

// Truncates v toward zero into [0, hi], as ggml's `MIN(hi, (int8_t)v)` does for the
// values its quantizers produce; NaN maps to 0.
int trunc_clamped(float v, int hi) {
  if (!(v > 0.0f)) return 0;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

// Symmetric: d = max / -2^(bits-1) where max is the signed absmax, so the largest
// magnitude lands exactly on the most negative level; q = trunc(x / d + 2^(bits-1) + 0.5).
float quantize_symmetric(const float* x, int bits, int* q) {
  const int offset = 1 << (bits - 1);
  const float d = signed_absmax(x, kBlock32) / static_cast<float>(-offset);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const float bias = static_cast<float>(offset) + 0.5f;
  for (int j = 0; j < kBlock32; ++j) q[j] = trunc_clamped(x[j] * id + bias, 2 * offset - 1);
  return d;
}

// Affine: d = (max - min) / (2^bits - 1), q = trunc((x - min) / d + 0.5).
float quantize_affine(const float* x, int bits, float& min, int* q) {
  const int qmax = (1 << bits) - 1;
  min = x[0];
  float max = x[0];
  for (int j = 1; j < kBlock32; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / static_cast<float>(qmax);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kBlock32; ++j) q[j] = trunc_clamped((x[j] - min) * id + 0.5f, qmax);
  return d;
}

}  // namespace

void decode_q4_0(const BlockQ4_0& b, float* out) {
  int q[kBlock32];
  unpack_nibbles(b.qs, q);
  scale_centered(q, 8, f16_to_f32(b.d), out);
}

void decode_q4_1(const BlockQ4_1& b, float* out) {
  int q[kBlock32];
  unpack_nibbles(b.qs, q);
  scale_affine(q, f16_to_f32(b.d), f16_to_f32(b.m), out);
}

void decode_q5_0(const BlockQ5_0& b, float* out) {
  int q[kBlock32];
  unpack_nibbles(b.qs, q);
  unpack_fifth_bits(b.qh, q);
  scale_centered(q, 16, f16_to_f32(b.d), out);
}

void decode_q5_1(const BlockQ5_1& b, float* out) {
  int q[kBlock32];
  unpack_nibbles(b.qs, q);
  unpack_fifth_bits(b.qh, q);
  scale_affine(q, f16_to_f32(b.d), f16_to_f32(b.m), out);
}

void decode_q8_0(const BlockQ8_0& b, float* out) { scale_int8(b.qs, f16_to_f32(b.d), out); }

void decode_q8_1(const BlockQ8_1& b, float* out) { scale_int8(b.qs, f16_to_f32(b.d), out); }

void encode_q4_0(const float* x, BlockQ4_0& b) {
  int q[kBlock32];
  b.d = f32_to_f16(quantize_symmetric(x, 4, q));
  pack_nibbles(q, b.qs);
}

void encode_q4_1(const float* x, BlockQ4_1& b) {
  int q[kBlock32];
  float min;
  b.d = f32_to_f16(quantize_affine(x, 4, min, q));
  b.m = f32_to_f16(min);
  pack_nibbles(q, b.qs);
}

void encode_q5_0(const float* x, BlockQ5_0& b) {
  int q[kBlock32];
  b.d = f32_to_f16(quantize_symmetric(x, 5, q));
  pack_nibbles(q, b.qs);
  pack_fifth_bits(q, b.qh);
}

void encode_q5_1(const float* x, BlockQ5_1& b) {
  int q[kBlock32];
  float min;
  b.d = f32_to_f16(quantize_affine(x, 5, min, q));
  b.m = f32_to_f16(min);
  pack_nibbles(q, b.qs);
  pack_fifth_bits(q, b.qh);
}

// d = absmax / 127, q = round-half-away(x / d).
void encode_q8_0(const float* x, BlockQ8_0& b) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b.d = f32_to_f16(d);
  for (int j = 0; j < kBlock32; ++j) b.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
}

}  // namespace tern
