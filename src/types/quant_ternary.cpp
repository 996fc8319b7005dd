// TQ1_0 byte layout: a byte holds trits (t0..t4) as ceil(256 * sum(t_i * 3^(4-i)) / 243),
// so trit i is recovered as ((uint8)(byte * 3^i) * 3) >> 8. Bytes 0-31 carry values
// 0..159 (trit i of byte m is value 32i + m), bytes 32-47 values 160..239 (value
// 160 + 16i + m), and the 4 qh bytes values 240..255 (value 240 + 4i + m, 4 trits each).
#include "types/quant_ternary.h"

#include <cmath>

#include "types/float_types.h"

namespace tern {

namespace {

constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};

// The part of TQ1_0 that packs `trits` trits per byte over `n_bytes` bytes, value
// i * n_bytes + m in trit i of byte m.
struct TritSpan {
  int first_byte, n_bytes, trits;
};
constexpr TritSpan kSpans[3] = {{0, 32, 5}, {32, 16, 5}, {48, 4, 4}};

int trit(uint8_t byte, int i) {
  const auto shifted = static_cast<uint8_t>(byte * kPow3[i]);  // wraps mod 256 on purpose
  return ((shifted * 3) >> 8) - 1;
}

float absmax(const float* x) {
  float amax = 0.0f;
  for (int v = 0; v < kSuperBlock; ++v) amax = std::fmax(amax, std::fabs(x[v]));
  return amax;
}

// -1, 0, 1 -> 0, 1, 2
int encode_trit(float x, float id) { return static_cast<int>(std::lround(x * id)) + 1; }

}  // namespace

void decode_tq1_0(const BlockTQ1_0& b, float* out) {
  const float d = f16_to_f32(b.d);
  const uint8_t* bytes = b.qs;  // qh directly follows qs
  int v = 0;
  for (const TritSpan& span : kSpans) {
    for (int i = 0; i < span.trits; ++i) {
      for (int m = 0; m < span.n_bytes; ++m) {
        out[v++] = static_cast<float>(trit(bytes[span.first_byte + m], i)) * d;
      }
    }
  }
}

void decode_tq2_0(const BlockTQ2_0& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int v = 0; v < kSuperBlock; ++v) {
    const int q = (b.qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3;
    out[v] = static_cast<float>(q - 1) * d;
  }
}

void encode_tq1_0(const float* x, BlockTQ1_0& b) {
  const float d = absmax(x);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b.d = f32_to_f16(d);
  uint8_t* bytes = b.qs;
  int v0 = 0;
  for (const TritSpan& span : kSpans) {
    for (int m = 0; m < span.n_bytes; ++m) {
      int q = 0;
      for (int i = 0; i < 5; ++i) {
        q = q * 3 + (i < span.trits ? encode_trit(x[v0 + i * span.n_bytes + m], id) : 0);
      }
      // Fixed point: ceil(q * 256 / 243) maps the base-3 number to a byte.
      bytes[span.first_byte + m] = static_cast<uint8_t>((q * 256 + 242) / 243);
    }
    v0 += span.trits * span.n_bytes;
  }
}

void encode_tq2_0(const float* x, BlockTQ2_0& b) {
  const float d = absmax(x);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b.d = f32_to_f16(d);
  for (auto& byte : b.qs) byte = 0;
  for (int v = 0; v < kSuperBlock; ++v) {
    b.qs[32 * (v / 128) + v % 32] |=
        static_cast<uint8_t>((encode_trit(x[v], id) & 3) << (2 * ((v % 128) / 32)));
  }
}

}  // namespace tern
