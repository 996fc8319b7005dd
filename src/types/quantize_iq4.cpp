// IQ4_NL / IQ4_XS encoders: per 32 values, search the scale that best fits the
// non-linear levels (weights x^2), then for IQ4_XS quantize the 8 scales to signed 6 bits.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "types/block_codec.h"
#include "types/float_types.h"
#include "types/quant_iq.h"

namespace tern {

namespace {

constexpr int kTries = 7;  // scale candidates (k + kIq4nlValues[0]) / max, k = -7..7

// Index of the level nearest to x (ties go up), by binary search over the midpoints.
int nearest_level(float x) {
  const float x2 = x + x;
  int idx = 0;
  for (int step = 8; step > 0; step >>= 1) {
    const int j = idx + step;
    if (x2 >= static_cast<float>(kIq4nlValues[j - 1] + kIq4nlValues[j])) idx = j;
  }
  return idx;
}

struct Fit {
  float sumqx = 0.0f;  // sum w * q * x
  float sumq2 = 0.0f;  // sum w * q * q
};

Fit fit_levels(const float* x, float id, uint8_t* L) {
  Fit f;
  for (int j = 0; j < kBlock32; ++j) {
    const int l = nearest_level(id * x[j]);
    if (L != nullptr) L[j] = static_cast<uint8_t>(l);
    const float q = static_cast<float>(kIq4nlValues[l]);
    const float w = x[j] * x[j];
    f.sumqx += w * q * x[j];
    f.sumq2 += w * q * q;
  }
  return f;
}

// Best least-squares scale for 32 values (0 for an all-zero group).
float best_scale(const float* x) {
  const float max = signed_absmax(x, kBlock32);
  if (std::fabs(max) < 1e-15f) return 0.0f;
  const Fit first = fit_levels(x, 1 / (-max / kIq4nlValues[0]), nullptr);
  float d = first.sumq2 > 0 ? first.sumqx / first.sumq2 : 0.0f;
  float best = d * first.sumqx;
  for (int k = -kTries; k <= kTries; ++k) {
    const Fit f = fit_levels(x, static_cast<float>(k + kIq4nlValues[0]) / max, nullptr);
    if (f.sumq2 > 0 && f.sumqx * f.sumqx > best * f.sumq2) {
      d = f.sumqx / f.sumq2;
      best = d * f.sumqx;
    }
  }
  return d;
}

void pack_levels(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kBlock32 / 2; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
}

}  // namespace

void encode_iq4_nl(const float* x, BlockIQ4_NL& b) {
  const float d = best_scale(x);
  b.d = f32_to_f16(d);
  uint8_t L[kBlock32];
  fit_levels(x, d != 0.0f ? 1 / d : 0.0f, L);
  pack_levels(L, b.qs);
}

void encode_iq4_xs(const float* x, BlockIQ4_XS& b) {
  float scales[8];
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < 8; ++ib) {
    scales[ib] = best_scale(x + 32 * ib);
    if (std::fabs(scales[ib]) > amax_scale) {
      amax_scale = std::fabs(scales[ib]);
      max_scale = scales[ib];
    }
  }
  const float d = -max_scale / 32;
  const float id = d != 0.0f ? 1 / d : 0.0f;
  b.d = f32_to_f16(d);
  b.scales_h = 0;
  std::memset(b.scales_l, 0, sizeof(b.scales_l));
  for (int ib = 0; ib < 8; ++ib) {
    const int l = std::clamp(nearest_int(id * scales[ib]), -32, 31);
    const float dl = d * static_cast<float>(l);
    uint8_t L[kBlock32];
    fit_levels(x + 32 * ib, dl != 0.0f ? 1 / dl : 0.0f, L);
    pack_levels(L, b.qs + 16 * ib);
    const int stored = l + 32;
    b.scales_l[ib / 2] |= static_cast<uint8_t>((stored & 0x0f) << (4 * (ib % 2)));
    b.scales_h |= static_cast<uint16_t>((stored >> 4) << (2 * ib));
  }
}

}  // namespace tern
