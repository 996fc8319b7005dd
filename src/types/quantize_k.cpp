// K-quant encoders, following ggml's reference quantizers: fit each sub-block, quantize
// the sub-scales against one fp16 super-scale, then re-derive every level from the
// stored (rounded) scales so encoding and decoding agree.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "types/block_codec.h"
#include "types/float_types.h"
#include "types/quant_k.h"
#include "types/quant_search.h"

namespace tern {

namespace {

// Q2_K/Q3_K: 2-bit levels L[256]; byte 32*(v/128) + v%32, field (v%128)/32 (see decode).
void pack_two_bits(const uint8_t* L, uint8_t* qs) {
  for (int half = 0; half < 2; ++half) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t* g = L + 128 * half + l;
      qs[32 * half + l] = static_cast<uint8_t>(g[0] | (g[32] << 2) | (g[64] << 4) | (g[96] << 6));
    }
  }
}

// Q4_K/Q5_K: low nibbles of L[256] (bits above 4 are dropped).
void pack_nibbles_k(const uint8_t* L, uint8_t* qs) {
  for (int g = 0; g < kSuperBlock / 64; ++g) {
    for (int l = 0; l < 32; ++l) {
      qs[32 * g + l] =
          static_cast<uint8_t>((L[64 * g + l] & 0x0f) | ((L[64 * g + l + 32] & 0x0f) << 4));
    }
  }
}

// Affine sub-blocks of 32 (Q4_K, Q5_K): fit, store 6-bit scales/mins, then requantize
// each value to round(( x + min) / scale) with the stored values. L gets levels 0..nmax.
struct AffineK {
  uint16_t d = 0, dmin = 0;
  uint8_t scales[12] = {};
};

AffineK quantize_affine_k(const float* x, int nmax, float rmin, int nstep, uint8_t* L) {
  float scales[8], mins[8], weights[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = fit_affine(32, nmax, xs, weights, L + 32 * j, mins[j], rmin, 0.1f, nstep, false);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  AffineK out;
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    const int ls = std::min(63, nearest_int(inv_scale * scales[j]) & 0xff);
    const int lm = std::min(63, nearest_int(inv_min * mins[j]) & 0xff);
    pack_scale_min_k4(j, ls, lm, out.scales);
  }
  out.d = f32_to_f16(max_scale / 63.f);
  out.dmin = f32_to_f16(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    unpack_scale_min_k4(out.scales, j, sc, m);
    const float d = f16_to_f32(out.d) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = f16_to_f32(out.dmin) * static_cast<float>(m);
    for (int i = 32 * j; i < 32 * j + 32; ++i) {
      L[i] = static_cast<uint8_t>(std::clamp(nearest_int((x[i] + dm) / d), 0, nmax));
    }
  }
  return out;
}

}  // namespace

// Sub-blocks of 16, weights |x|, mean-absolute-error fit; 4-bit scale and min per sub-block.
void encode_q2_k(const float* x, BlockQ2_K& b) {
  uint8_t L[kSuperBlock];
  float scales[16], mins[16], weights[16];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
    scales[j] = fit_affine(16, 3, x + 16 * j, weights, L + 16 * j, mins[j], -0.5f, 0.1f, 15, true);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  std::memset(b.scales, 0, sizeof(b.scales));
  b.d = 0;
  b.dmin = 0;
  if (max_scale > 0) {
    const float iscale = 15.f / max_scale;
    for (int j = 0; j < 16; ++j)
      b.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
    b.d = f32_to_f16(max_scale / 15.f);
  }
  if (max_min > 0) {
    const float iscale = 15.f / max_min;
    for (int j = 0; j < 16; ++j)
      b.scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
    b.dmin = f32_to_f16(max_min / 15.f);
  }
  for (int j = 0; j < 16; ++j) {
    const float d = f16_to_f32(b.d) * static_cast<float>(b.scales[j] & 0x0f);
    if (d == 0.0f) continue;
    const float dm = f16_to_f32(b.dmin) * static_cast<float>(b.scales[j] >> 4);
    for (int i = 16 * j; i < 16 * j + 16; ++i) {
      L[i] = static_cast<uint8_t>(std::clamp(nearest_int((x[i] + dm) / d), 0, 3));
    }
  }
  pack_two_bits(L, b.qs);
}

// Sub-blocks of 16, symmetric levels -4..3; signed 6-bit scales against d = max_scale / -32.
void encode_q3_k(const float* x, BlockQ3_K& b) {
  int8_t levels[kSuperBlock];
  float scales[16];
  float max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = fit_symmetric_refined(16, 4, x + 16 * j, levels + 16 * j);
    if (std::fabs(scales[j]) > amax) {
      amax = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  std::memset(b.scales, 0, sizeof(b.scales));
  b.d = 0;
  if (max_scale != 0.0f) {
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      const int l = std::clamp(
          static_cast<int>(static_cast<int8_t>(nearest_int(iscale * scales[j]))), -32, 31);
      pack_scale_q3_k(j, l + 32, b.scales);
    }
    b.d = f32_to_f16(1 / iscale);
  }
  uint8_t L[kSuperBlock];
  for (int i = 0; i < kSuperBlock; ++i) L[i] = static_cast<uint8_t>(levels[i]);
  for (int j = 0; j < 16; ++j) {
    const float d = f16_to_f32(b.d) * static_cast<float>(unpack_scale_q3_k(b.scales, j));
    if (d == 0.0f) continue;
    for (int i = 16 * j; i < 16 * j + 16; ++i) {
      L[i] = static_cast<uint8_t>(std::clamp(nearest_int(x[i] / d), -4, 3) + 4);
    }
  }
  // Levels 4..7 keep their high bit in hmask[v%32] bit v/32.
  std::memset(b.hmask, 0, sizeof(b.hmask));
  for (int v = 0; v < kSuperBlock; ++v) {
    if (L[v] > 3) {
      b.hmask[v % 32] |= static_cast<uint8_t>(1u << (v / 32));
      L[v] -= 4;
    }
  }
  pack_two_bits(L, b.qs);
}

void encode_q4_k(const float* x, BlockQ4_K& b) {
  uint8_t L[kSuperBlock];
  const AffineK k = quantize_affine_k(x, 15, -1.f, 20, L);
  b.d = k.d;
  b.dmin = k.dmin;
  std::memcpy(b.scales, k.scales, sizeof(b.scales));
  pack_nibbles_k(L, b.qs);
}

void encode_q5_k(const float* x, BlockQ5_K& b) {
  uint8_t L[kSuperBlock];
  const AffineK k = quantize_affine_k(x, 31, -0.5f, 15, L);
  b.d = k.d;
  b.dmin = k.dmin;
  std::memcpy(b.scales, k.scales, sizeof(b.scales));
  pack_nibbles_k(L, b.qs);
  std::memset(b.qh, 0, sizeof(b.qh));
  for (int v = 0; v < kSuperBlock; ++v) {
    b.qh[v % 32] |= static_cast<uint8_t>((L[v] >> 4) << (v / 32));
  }
}

// Sub-blocks of 16, symmetric levels -32..31; int8 scales against d = max_scale / -128.
void encode_q6_k(const float* x, BlockQ6_K& b) {
  int8_t L[kSuperBlock];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = fit_symmetric_weighted(16, 32, x + 16 * j, L + 16 * j);
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  std::memset(&b, 0, sizeof(b));
  if (max_abs_scale < 1e-15f) return;
  const float iscale = -128.f / max_scale;
  b.d = f32_to_f16(1 / iscale);
  for (int j = 0; j < 16; ++j) {
    b.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
  }
  for (int j = 0; j < 16; ++j) {
    const float d = f16_to_f32(b.d) * static_cast<float>(b.scales[j]);
    if (d == 0.0f) continue;
    for (int i = 16 * j; i < 16 * j + 16; ++i) {
      L[i] = static_cast<int8_t>(std::clamp(nearest_int(x[i] / d), -32, 31) + 32);
    }
  }
  for (int v = 0; v < kSuperBlock; ++v) {
    const int h = v / 128, k = (v % 128) / 32, l = v % 32;
    const int q = L[v];
    b.ql[64 * h + 32 * (k % 2) + l] |= static_cast<uint8_t>((q & 0x0f) << (k < 2 ? 0 : 4));
    b.qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
  }
}

// d = max / -127 (signed absmax), q = min(127, round(x / d)), plus sums of each 16 quants.
void encode_q8_k(const float* x, BlockQ8_K& b) {
  std::memset(&b, 0, sizeof(b));
  const float max = signed_absmax(x, kSuperBlock);
  if (max == 0.0f) return;
  const float iscale = -127.f / max;
  for (int v = 0; v < kSuperBlock; ++v) {
    b.qs[v] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[v])));
  }
  for (int j = 0; j < kSuperBlock / 16; ++j) {
    int sum = 0;
    for (int v = 16 * j; v < 16 * j + 16; ++v) sum += b.qs[v];
    b.bsums[j] = static_cast<int16_t>(sum);
  }
  b.d = 1 / iscale;
}

}  // namespace tern
