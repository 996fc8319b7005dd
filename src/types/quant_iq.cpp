// IQ decoders. Each walks the super-block in groups of 32 values (ib = 0..7).
#include "types/quant_iq.h"

#include <cstring>

#include "types/float_types.h"
#include "types/iq1_grid.h"
#include "types/iq2_grids.h"
#include "types/iq3_grids.h"

namespace tern {

namespace {

constexpr float kIq1Delta = 0.125f;  // IQ1 grid shift: levels are {-1, 0, 1} +- delta

// out[j] = db * grid[j], negated where bit j of `signs` is set.
void emit_signed(float db, const uint8_t* grid, uint8_t signs, int n, float* out) {
  for (int j = 0; j < n; ++j) {
    out[j] = db * static_cast<float>(grid[j]) * ((signs >> j) & 1 ? -1.f : 1.f);
  }
}

// IQ2_XXS/IQ3_XXS: a u32 per 32 values holding four 7-bit sign indices and a 4-bit scale.
float xxs_scale(uint32_t aux, float d, float unit) {
  return d * (0.5f + static_cast<float>(aux >> 28)) * unit;
}

float nibble_scale(uint8_t scales, int which, float d) {
  return d * (0.5f + static_cast<float>((scales >> (4 * which)) & 0x0f)) * 0.25f;
}

void emit_iq1(float dl, const int8_t* grid, float delta, float* out) {
  for (int j = 0; j < 8; ++j) out[j] = dl * (static_cast<float>(grid[j]) + delta);
}

}  // namespace

void decode_iq2_xxs(const BlockIQ2_XXS& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int ib = 0; ib < 8; ++ib, out += 32) {
    uint8_t idx[4];
    uint32_t aux;
    std::memcpy(idx, &b.qs[4 * ib], 4);
    std::memcpy(&aux, &b.qs[4 * ib + 2], 4);
    const float db = xxs_scale(aux, d, 0.25f);
    for (int l = 0; l < 4; ++l) {
      emit_signed(db, kIq2xxsGrid[idx[l]], kIqSigns[(aux >> (7 * l)) & 127], 8, out + 8 * l);
    }
  }
}

// qs[i]: 9-bit grid index, 7-bit sign index above it.
void decode_iq2_xs(const BlockIQ2_XS& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int ib = 0; ib < 8; ++ib, out += 32) {
    for (int l = 0; l < 4; ++l) {
      const uint16_t q = b.qs[4 * ib + l];
      emit_signed(nibble_scale(b.scales[ib], l / 2, d), kIq2xsGrid[q & 511], kIqSigns[q >> 9], 8,
                  out + 8 * l);
    }
  }
}

// Grid index = qs byte | 2 bits of qh[ib] (field l) << 8; explicit sign bytes after qs.
void decode_iq2_s(const BlockIQ2_S& b, float* out) {
  const float d = f16_to_f32(b.d);
  const uint8_t* signs = b.qs + kSuperBlock / 8;
  for (int ib = 0; ib < 8; ++ib, out += 32) {
    for (int l = 0; l < 4; ++l) {
      const int index = b.qs[4 * ib + l] | (((b.qh[ib] >> (2 * l)) & 3) << 8);
      emit_signed(nibble_scale(b.scales[ib], l / 2, d), kIq2sGrid[index], signs[4 * ib + l], 8,
                  out + 8 * l);
    }
  }
}

// 64 grid bytes (4 values each), then one u32 of signs + scale per 32 values.
void decode_iq3_xxs(const BlockIQ3_XXS& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int ib = 0; ib < 8; ++ib, out += 32) {
    uint32_t aux;
    std::memcpy(&aux, b.qs + kSuperBlock / 4 + 4 * ib, 4);
    const float db = xxs_scale(aux, d, 0.5f);
    for (int l = 0; l < 4; ++l) {
      const uint8_t signs = kIqSigns[(aux >> (7 * l)) & 127];
      emit_signed(db, kIq3xxsGrid[b.qs[8 * ib + 2 * l]], signs, 4, out + 8 * l);
      emit_signed(db, kIq3xxsGrid[b.qs[8 * ib + 2 * l + 1]], static_cast<uint8_t>(signs >> 4), 4,
                  out + 8 * l + 4);
    }
  }
}

// Grid index = qs[8ib + k] | bit k of qh[ib] << 8; scale d * (1 + 2 * nibble).
void decode_iq3_s(const BlockIQ3_S& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int ib = 0; ib < 8; ++ib, out += 32) {
    const float db = d * static_cast<float>(1 + 2 * ((b.scales[ib / 2] >> (4 * (ib % 2))) & 0x0f));
    for (int k = 0; k < 8; ++k) {
      const int index = b.qs[8 * ib + k] | (((b.qh[ib] >> k) & 1) << 8);
      const uint8_t signs = static_cast<uint8_t>(b.signs[4 * ib + k / 2] >> (4 * (k % 2)));
      emit_signed(db, kIq3sGrid[index], signs, 4, out + 4 * k);
    }
  }
}

// qh[ib]: bits 3l..3l+2 extend grid index l, bits 12-14 the scale, bit 15 the delta sign.
void decode_iq1_s(const BlockIQ1_S& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int ib = 0; ib < 8; ++ib, out += 32) {
    const uint16_t qh = b.qh[ib];
    const float dl = d * static_cast<float>(2 * ((qh >> 12) & 7) + 1);
    const float delta = qh & 0x8000 ? -kIq1Delta : kIq1Delta;
    for (int l = 0; l < 4; ++l) {
      const int index = b.qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8);
      emit_iq1(dl, kIq1sGrid[index], delta, out + 8 * l);
    }
  }
}

// Sub-scales: 3 bits each, four per u16 word (two per 32 values); the fp16 super-scale
// is assembled from the top nibbles of the four words. qh nibble per 8 values: 3 index
// bits and the delta sign.
void decode_iq1_m(const BlockIQ1_M& b, float* out) {
  uint16_t sc[4];
  std::memcpy(sc, b.scales, sizeof(sc));
  const uint16_t d_bits = static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
                                                ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
  const float d = f16_to_f32(d_bits);
  for (int ib = 0; ib < 8; ++ib, out += 32) {
    for (int l = 0; l < 4; ++l) {
      const int sub_scale = (sc[ib / 2] >> (6 * (ib % 2) + 3 * (l / 2))) & 7;
      const float dl = d * static_cast<float>(2 * sub_scale + 1);
      const int nib = (b.qh[2 * ib + l / 2] >> (4 * (l % 2))) & 0x0f;
      const int index = b.qs[4 * ib + l] | ((nib & 7) << 8);
      emit_iq1(dl, kIq1sGrid[index], nib & 8 ? -kIq1Delta : kIq1Delta, out + 8 * l);
    }
  }
}

void decode_iq4_nl(const BlockIQ4_NL& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int j = 0; j < kBlock32 / 2; ++j) {
    out[j] = d * static_cast<float>(kIq4nlValues[b.qs[j] & 0x0f]);
    out[j + 16] = d * static_cast<float>(kIq4nlValues[b.qs[j] >> 4]);
  }
}

// Sub-scale ib: low nibble from scales_l, 2 high bits from scales_h, offset by -32.
void decode_iq4_xs(const BlockIQ4_XS& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int ib = 0; ib < 8; ++ib, out += 32) {
    const int ls =
        ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) | (((b.scales_h >> (2 * ib)) & 3) << 4);
    const float dl = d * static_cast<float>(ls - 32);
    for (int j = 0; j < 16; ++j) {
      out[j] = dl * static_cast<float>(kIq4nlValues[b.qs[16 * ib + j] & 0x0f]);
      out[j + 16] = dl * static_cast<float>(kIq4nlValues[b.qs[16 * ib + j] >> 4]);
    }
  }
}

}  // namespace tern
