// Dequantization of 8 consecutive values of a weight block to float, on the host and the
// device (get_rows, the F16 copies for cuBLAS). dequant8(b, j, v) writes values 8j..8j+7
// of block b; 8 values never straddle a sub-block scale, so each call computes its scale
// once. The formulas follow the CPU decoders in src/types/quant_*.cpp operation for
// operation (same products, same order), which tests/test_cuda_blocks.cpp checks.
#pragma once

#include <cstdint>

#include "block_dot.cuh"
#include "device_math.cuh"
#include "types/blocks.h"

namespace tern::cuda {

/// kValues plain values of element type E (uint16_t bits for F16/BF16, float for F32)
/// as one "block", so float weights walk the same kernels as quantized ones. Aligned so
/// that eight values load as 16-byte vectors when the row allows it.
template <typename E, int kValues, int kTag>
struct alignas(kValues * sizeof(E) >= 16 ? 16 : kValues * sizeof(E)) PlainBlock {
  E v[kValues];
};
template <int kValues>
using F32Block = PlainBlock<float, kValues, 0>;
template <int kValues>
using F16Block = PlainBlock<uint16_t, kValues, 1>;
template <int kValues>
using BF16Block = PlainBlock<uint16_t, kValues, 2>;

template <int kValues>
TERN_HD void dequant8(const F32Block<kValues>& b, int, float* v) {
  for (int k = 0; k < kValues; ++k) v[k] = b.v[k];
}
template <int kValues>
TERN_HD void dequant8(const F16Block<kValues>& b, int, float* v) {
  for (int k = 0; k < kValues; ++k) v[k] = half_to_float(b.v[k]);
}
template <int kValues>
TERN_HD void dequant8(const BF16Block<kValues>& b, int, float* v) {
  for (int k = 0; k < kValues; ++k) v[k] = bf16_bits_to_float(b.v[k]);
}

namespace detail {

/// Quant of value v of a legacy block: nibble (low for v < 16, high for v >= 16 of
/// qs[v % 16]) plus, for Q5, bit v of the little-endian qh word shifted to bit 4.
TERN_HD int legacy_nibble(const uint8_t* qs, int v) {
  return v < 16 ? qs[v] & 0x0f : qs[v - 16] >> 4;
}
TERN_HD int legacy_fifth_bit(const uint8_t* qh, int v) { return ((qh[v / 8] >> (v % 8)) & 1) << 4; }

/// Q2_K/Q3_K low bits of value v: field (v%128)/32 of qs[32*(v/128) + v%32].
TERN_HD int two_bits(const uint8_t* qs, int v) {
  return (qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3;
}

/// Q4_K/Q5_K nibble of value v: qs[32*(v/64) + v%32], high nibble when v%64 >= 32.
TERN_HD int nibble_k(const uint8_t* qs, int v) {
  const uint8_t byte = qs[32 * (v / 64) + v % 32];
  return (v % 64) < 32 ? byte & 0x0f : byte >> 4;
}

TERN_HD int iq4_level(int nibble) { return sbyte(iq4_levels(nibble), 0); }

}  // namespace detail

// ---- legacy: x = (q - offset) * d or q * d + m, one scale per block ----

TERN_HD void dequant8(const BlockQ4_0& b, int j, float* v) {
  const float d = half_to_float(b.d);
  for (int k = 0; k < 8; ++k)
    v[k] = static_cast<float>(detail::legacy_nibble(b.qs, 8 * j + k) - 8) * d;
}

TERN_HD void dequant8(const BlockQ4_1& b, int j, float* v) {
  const float d = half_to_float(b.d), m = half_to_float(b.m);
  for (int k = 0; k < 8; ++k)
    v[k] = static_cast<float>(detail::legacy_nibble(b.qs, 8 * j + k)) * d + m;
}

TERN_HD void dequant8(const BlockQ5_0& b, int j, float* v) {
  const float d = half_to_float(b.d);
  for (int k = 0; k < 8; ++k) {
    const int q =
        detail::legacy_nibble(b.qs, 8 * j + k) | detail::legacy_fifth_bit(b.qh, 8 * j + k);
    v[k] = static_cast<float>(q - 16) * d;
  }
}

TERN_HD void dequant8(const BlockQ5_1& b, int j, float* v) {
  const float d = half_to_float(b.d), m = half_to_float(b.m);
  for (int k = 0; k < 8; ++k) {
    const int q =
        detail::legacy_nibble(b.qs, 8 * j + k) | detail::legacy_fifth_bit(b.qh, 8 * j + k);
    v[k] = static_cast<float>(q) * d + m;
  }
}

TERN_HD void dequant8(const BlockQ8_0& b, int j, float* v) {
  const float d = half_to_float(b.d);
  for (int k = 0; k < 8; ++k) v[k] = static_cast<float>(b.qs[8 * j + k]) * d;
}

TERN_HD void dequant8(const BlockIQ4_NL& b, int j, float* v) {
  const float d = half_to_float(b.d);
  for (int k = 0; k < 8; ++k) {
    v[k] = d * static_cast<float>(detail::iq4_level(detail::legacy_nibble(b.qs, 8 * j + k)));
  }
}

// ---- K-quants and IQ4_XS: sub-block scales within a 256-value super-block ----

TERN_HD void dequant8(const BlockQ2_K& b, int j, float* v) {
  const int s = j / 2;  // 16-value group
  const float dl = half_to_float(b.d) * static_cast<float>(b.scales[s] & 0x0f);
  const float ml = half_to_float(b.dmin) * static_cast<float>(b.scales[s] >> 4);
  for (int k = 0; k < 8; ++k)
    v[k] = dl * static_cast<float>(detail::two_bits(b.qs, 8 * j + k)) - ml;
}

TERN_HD void dequant8(const BlockQ3_K& b, int j, float* v) {
  const float dl = half_to_float(b.d) * static_cast<float>(detail::scale_q3_k(b.scales, j / 2));
  for (int k = 0; k < 8; ++k) {
    const int at = 8 * j + k;
    const bool high = (b.hmask[at % 32] >> (at / 32)) & 1;
    v[k] = dl * static_cast<float>(detail::two_bits(b.qs, at) - (high ? 0 : 4));
  }
}

TERN_HD void dequant8(const BlockQ4_K& b, int j, float* v) {
  int sc, m;
  detail::scale_min_k4(b.scales, j / 4, sc, m);
  const float dl = half_to_float(b.d) * static_cast<float>(sc);
  const float ml = half_to_float(b.dmin) * static_cast<float>(m);
  for (int k = 0; k < 8; ++k)
    v[k] = dl * static_cast<float>(detail::nibble_k(b.qs, 8 * j + k)) - ml;
}

TERN_HD void dequant8(const BlockQ5_K& b, int j, float* v) {
  int sc, m;
  detail::scale_min_k4(b.scales, j / 4, sc, m);
  const float dl = half_to_float(b.d) * static_cast<float>(sc);
  const float ml = half_to_float(b.dmin) * static_cast<float>(m);
  for (int k = 0; k < 8; ++k) {
    const int at = 8 * j + k;
    const int q = detail::nibble_k(b.qs, at) | (((b.qh[at % 32] >> (at / 32)) & 1) << 4);
    v[k] = dl * static_cast<float>(q) - ml;
  }
}

TERN_HD void dequant8(const BlockQ6_K& b, int j, float* v) {
  const float dl = half_to_float(b.d) * static_cast<float>(b.scales[j / 2]);
  for (int k = 0; k < 8; ++k) {
    const int at = 8 * j + k;
    const int h = at / 128, g = (at % 128) / 32, l = at % 32;
    const uint8_t low_byte = b.ql[64 * h + 32 * (g % 2) + l];
    const int low = g < 2 ? low_byte & 0x0f : low_byte >> 4;
    const int high = (b.qh[32 * h + l] >> (2 * g)) & 3;
    v[k] = dl * static_cast<float>((low | (high << 4)) - 32);
  }
}

TERN_HD void dequant8(const BlockIQ4_XS& b, int j, float* v) {
  const int ib = j / 4;  // 32-value sub-block
  const float dl = half_to_float(b.d) * static_cast<float>(detail::scale_iq4_xs(b, ib));
  for (int k = 0; k < 8; ++k) {
    v[k] = dl * static_cast<float>(
                    detail::iq4_level(detail::legacy_nibble(b.qs + 16 * ib, 8 * (j % 4) + k)));
  }
}

}  // namespace tern::cuda
