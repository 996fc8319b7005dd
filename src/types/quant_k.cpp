// K-quant decoders. Value v of a super-block uses sub-scale v/16 (or v/32); the bit
// positions of its quant are spelled out per type below.
#include "types/quant_k.h"

#include "types/float_types.h"

namespace tern {

void unpack_scale_min_k4(const uint8_t* packed, int j, int& scale, int& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4);
    min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

void pack_scale_min_k4(int j, int scale, int min, uint8_t* packed) {
  if (j < 4) {
    packed[j] = static_cast<uint8_t>(scale);
    packed[j + 4] = static_cast<uint8_t>(min);
  } else {
    packed[j + 4] = static_cast<uint8_t>((scale & 0x0f) | ((min & 0x0f) << 4));
    packed[j - 4] |= static_cast<uint8_t>((scale >> 4) << 6);
    packed[j] |= static_cast<uint8_t>((min >> 4) << 6);
  }
}

// Low 4 bits: nibble of byte j%8 (low for j<8); high 2 bits: 2-bit field j/4 of byte 8+j%4.
int unpack_scale_q3_k(const uint8_t* packed, int j) {
  int low = j < 8 ? packed[j] & 0x0f : packed[j - 8] >> 4;
  int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

void pack_scale_q3_k(int j, int stored, uint8_t* packed) {
  if (j < 8) {
    packed[j] = static_cast<uint8_t>(stored & 0x0f);
  } else {
    packed[j - 8] |= static_cast<uint8_t>((stored & 0x0f) << 4);
  }
  packed[8 + j % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (j / 4)));
}

namespace {

// Q2_K/Q3_K low bits: value v sits in byte 32*(v/128) + v%32, 2-bit field (v%128)/32.
int two_bits(const uint8_t* qs, int v) {
  return (qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3;
}

// Q4_K/Q5_K nibbles: value v sits in byte 32*(v/64) + v%32, high nibble when (v%64) >= 32.
int nibble_k(const uint8_t* qs, int v) {
  const uint8_t byte = qs[32 * (v / 64) + v % 32];
  return (v % 64) < 32 ? byte & 0x0f : byte >> 4;
}

}  // namespace

void decode_q2_k(const BlockQ2_K& b, float* out) {
  const float d = f16_to_f32(b.d);
  const float dmin = f16_to_f32(b.dmin);
  for (int s = 0; s < kSuperBlock / 16; ++s) {
    const float dl = d * static_cast<float>(b.scales[s] & 0x0f);
    const float ml = dmin * static_cast<float>(b.scales[s] >> 4);
    for (int v = 16 * s; v < 16 * s + 16; ++v) {
      out[v] = dl * static_cast<float>(two_bits(b.qs, v)) - ml;
    }
  }
}

// The high bit comes from hmask[v%32] bit v/32; a clear bit means the quant is offset by -4.
void decode_q3_k(const BlockQ3_K& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int s = 0; s < kSuperBlock / 16; ++s) {
    const float dl = d * static_cast<float>(unpack_scale_q3_k(b.scales, s));
    for (int v = 16 * s; v < 16 * s + 16; ++v) {
      const bool high = (b.hmask[v % 32] >> (v / 32)) & 1;
      out[v] = dl * static_cast<float>(two_bits(b.qs, v) - (high ? 0 : 4));
    }
  }
}

void decode_q4_k(const BlockQ4_K& b, float* out) {
  const float d = f16_to_f32(b.d);
  const float dmin = f16_to_f32(b.dmin);
  for (int s = 0; s < kSuperBlock / 32; ++s) {
    int sc, m;
    unpack_scale_min_k4(b.scales, s, sc, m);
    const float dl = d * static_cast<float>(sc);
    const float ml = dmin * static_cast<float>(m);
    for (int v = 32 * s; v < 32 * s + 32; ++v) {
      out[v] = dl * static_cast<float>(nibble_k(b.qs, v)) - ml;
    }
  }
}

// The fifth bit of value v is bit v/32 of qh[v%32].
void decode_q5_k(const BlockQ5_K& b, float* out) {
  const float d = f16_to_f32(b.d);
  const float dmin = f16_to_f32(b.dmin);
  for (int s = 0; s < kSuperBlock / 32; ++s) {
    int sc, m;
    unpack_scale_min_k4(b.scales, s, sc, m);
    const float dl = d * static_cast<float>(sc);
    const float ml = dmin * static_cast<float>(m);
    for (int v = 32 * s; v < 32 * s + 32; ++v) {
      const int q = nibble_k(b.qs, v) | (((b.qh[v % 32] >> (v / 32)) & 1) << 4);
      out[v] = dl * static_cast<float>(q) - ml;
    }
  }
}

// Per 128-value half h, with k = (v%128)/32 and l = v%32: low nibble (k<2) or high nibble
// of ql[64h + 32*(k%2) + l], high 2 bits from field k of qh[32h + l]; q is offset by -32.
void decode_q6_k(const BlockQ6_K& b, float* out) {
  const float d = f16_to_f32(b.d);
  for (int v = 0; v < kSuperBlock; ++v) {
    const int h = v / 128, k = (v % 128) / 32, l = v % 32;
    const uint8_t low_byte = b.ql[64 * h + 32 * (k % 2) + l];
    const int low = k < 2 ? low_byte & 0x0f : low_byte >> 4;
    const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
    const float dl = d * static_cast<float>(b.scales[v / 16]);
    out[v] = dl * static_cast<float>((low | (high << 4)) - 32);
  }
}

void decode_q8_k(const BlockQ8_K& b, float* out) {
  for (int v = 0; v < kSuperBlock; ++v) out[v] = b.d * static_cast<float>(b.qs[v]);
}

}  // namespace tern
