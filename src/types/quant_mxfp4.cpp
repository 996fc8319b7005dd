#include "types/quant_mxfp4.h"

#include <cmath>
#include <cstring>

namespace tern {

namespace {

// First index with the smallest |level * d - x|.
uint8_t nearest_e2m1(float x, float d) {
  uint8_t best = 0;
  float best_err = std::fabs(static_cast<float>(kE2m1Doubled[0]) * d - x);
  for (uint8_t i = 1; i < 16; ++i) {
    const float err = std::fabs(static_cast<float>(kE2m1Doubled[i]) * d - x);
    if (err < best_err) {
      best = i;
      best_err = err;
    }
  }
  return best;
}

}  // namespace

void decode_mxfp4(const BlockMXFP4& b, float* out) {
  const float d = e8m0_half(b.e);
  for (int j = 0; j < kBlock32 / 2; ++j) {
    out[j] = static_cast<float>(kE2m1Doubled[b.qs[j] & 0x0f]) * d;
    out[j + 16] = static_cast<float>(kE2m1Doubled[b.qs[j] >> 4]) * d;
  }
}

void encode_mxfp4(const float* x, BlockMXFP4& b) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  // Wraps mod 256 for absmax below 2^-125, as the reference's uint8 conversion does.
  b.e = amax > 0.0f ? static_cast<uint8_t>(static_cast<int>(std::floor(std::log2(amax))) - 2 + 127)
                    : 0;
  const float d = e8m0_half(b.e);
  for (int j = 0; j < kBlock32 / 2; ++j) {
    b.qs[j] = static_cast<uint8_t>(nearest_e2m1(x[j], d) | (nearest_e2m1(x[j + 16], d) << 4));
  }
}

}  // namespace tern
