// Integer dot products of weight blocks with 8-bit quantized activations, on the host and
// the device (the matrix-vector kernels' inner step; tests/test_cuda_blocks.cpp checks each
// against the type table's CPU dequantization).
//
// Activations are quantized once per call into ActBlock: 32 values as int8 with a float
// scale d and s = d * sum(q) (llama.cpp's Q8_1 idea), so a weight's offset or minimum folds
// into one multiply by s. A weight block is walked in "units" of kUnitValues values (one
// thread step of the kernel, chosen so a unit reads its quant bytes once):
//   legacy, IQ4_NL: the 32-value block; Q4_K/Q5_K/Q6_K: 32 values (both nibbles of 16
//   bytes); Q2_K/Q3_K: 128 values (all four 2-bit fields of 32 bytes); IQ4_XS: its
//   32-value sub-block.
// block_dot(b, u, a) returns unit u's share of (dequantized b) . (dequantized a), where `a`
// points to the activation blocks of the whole weight block (kValues / 32 of them). Sums
// are int32 with dp4a; the float scales are applied once per 16 or 32 values.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "device_math.cuh"
#include "types/blocks.h"
#include "types/quant_iq.h"

namespace tern::cuda {

/// 32 activation values quantized to int8: x ~ d * qs[j]; s = d * sum(qs).
struct alignas(8) ActBlock {
  float d;
  float s;
  int8_t qs[kBlock32];
};
static_assert(sizeof(ActBlock) == 40 && alignof(ActBlock) == 8);

/// d = absmax / 127 of a block whose largest magnitude is amax.
TERN_HD float act_scale(float amax) { return amax / 127.0f; }

/// q = round-half-away(x / d): ggml's Q8_1 rounding (encode_q8_0's too).
TERN_HD int act_quant(float x, float d) {
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  return static_cast<int>(roundf(x * id));
}

/// The reference of the device's warp-wide quantize_kernel (matmul_vec.cu).
TERN_HD void quantize_act_block(const float* x, ActBlock& a) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock32; ++j) amax = fmaxf(amax, fabsf(x[j]));
  const float d = act_scale(amax);
  int sum = 0;
  for (int j = 0; j < kBlock32; ++j) {
    const int q = act_quant(x[j], d);
    a.qs[j] = static_cast<int8_t>(q);
    sum += q;
  }
  a.d = d;
  a.s = d * static_cast<float>(sum);
}

namespace detail {

constexpr int kLowNibbles = 0x0f0f0f0f;
constexpr int kOnes = 0x01010101;

/// Activation values 4i..4i+3 of a block as one word.
TERN_HD int act_word(const ActBlock& a, int i) { return load_i32<4>(a.qs + 4 * i); }

/// Activation values 16h..16h+15 of a block (h = 0, 1) as four words.
TERN_HD void act_words16(const ActBlock& a, int h, int (&w)[4]) {
  load_16<align_at<ActBlock>(offsetof(ActBlock, qs))>(a.qs + 16 * h, w);
}

/// Sum of activation quants 16h..16h+15 (h = 0, 1).
TERN_HD int act_sum16(const ActBlock& a, int h) {
  int sum = 0;
  TERN_UNROLL
  for (int i = 4 * h; i < 4 * h + 4; ++i) sum = dp4a(kOnes, act_word(a, i), sum);
  return sum;
}

constexpr uint64_t pack_iq4_levels(int first) {
  uint64_t packed = 0;
  for (int k = 0; k < 8; ++k) {
    packed |= static_cast<uint64_t>(static_cast<uint8_t>(kIq4nlValues[first + k])) << (8 * k);
  }
  return packed;
}
// kIq4nlValues as two 64-bit constants, so device code reads them without a memory table.
constexpr uint64_t kIq4Low = pack_iq4_levels(0);
constexpr uint64_t kIq4High = pack_iq4_levels(8);

/// Four nibble indices (one per byte, 0..15) -> their IQ4_NL levels as signed bytes.
TERN_HD int iq4_levels(int nibbles) {
  uint32_t out = 0;
  TERN_UNROLL
  for (int k = 0; k < 4; ++k) {
    const uint32_t idx = (static_cast<uint32_t>(nibbles) >> (8 * k)) & 0x0fu;
    const uint64_t half = idx < 8 ? kIq4Low : kIq4High;
    out |= static_cast<uint32_t>((half >> (8 * (idx & 7u))) & 0xffu) << (8 * k);
  }
  return static_cast<int>(out);
}

/// Sum over a 32-value block of quant * activation, where quants(i, lo, hi) yields the
/// signed-byte words of values 4i..4i+3 (lo) and 16+4i..16+4i+3 (hi), i = 0..3.
template <typename Quants>
TERN_HD int dot32(const ActBlock& a, Quants quants) {
  int sum = 0;
  TERN_UNROLL
  for (int i = 0; i < 4; ++i) {
    int lo, hi;
    quants(i, lo, hi);
    sum = dp4a(lo, act_word(a, i), sum);
    sum = dp4a(hi, act_word(a, i + 4), sum);
  }
  return sum;
}

/// Nibble words of a 16-byte legacy qs array: value j < 16 low nibble, j + 16 high.
template <int kAlign>
TERN_HD void nibble_words(const uint8_t* qs, int i, int& lo, int& hi) {
  const int w = load_i32<kAlign>(qs + 4 * i);
  lo = w & kLowNibbles;
  hi = (w >> 4) & kLowNibbles;
}

/// Bit 4 of each byte for values 4i..4i+3 (lo) and 16+4i.. (hi) from a Q5 qh word.
TERN_HD void fifth_bits(uint32_t qh, int i, int& lo, int& hi) {
  int l = 0, h = 0;
  TERN_UNROLL
  for (int k = 0; k < 4; ++k) {
    l |= static_cast<int>((qh >> (4 * i + k)) & 1u) << (8 * k + 4);
    h |= static_cast<int>((qh >> (16 + 4 * i + k)) & 1u) << (8 * k + 4);
  }
  lo = l;
  hi = h;
}

/// Sub-block j's 6-bit (scale, min) of the Q4_K/Q5_K packing (the CPU's unpack_scale_min_k4,
/// repeated here because device code cannot call it).
TERN_HD void scale_min_k4(const uint8_t* packed, int j, int& scale, int& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4);
    min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

/// Q3_K's signed 6-bit scale of 16-value group j (the CPU's unpack_scale_q3_k).
TERN_HD int scale_q3_k(const uint8_t* packed, int j) {
  const int low = j < 8 ? packed[j] & 0x0f : packed[j - 8] >> 4;
  const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

/// IQ4_XS's 6-bit scale of sub-block ib, offset by -32.
TERN_HD int scale_iq4_xs(const BlockIQ4_XS& b, int ib) {
  return (((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) | (((b.scales_h >> (2 * ib)) & 3) << 4)) -
         32;
}

}  // namespace detail

// ---- legacy types: one unit = the whole 32-value block ----

TERN_HD float block_dot(const BlockQ4_0& b, int, const ActBlock* a) {
  const int sum = detail::dot32(a[0], [&](int i, int& lo, int& hi) {
    detail::nibble_words<kBlockAlign<BlockQ4_0>>(b.qs, i, lo, hi);
  });
  return half_to_float(b.d) * (a[0].d * static_cast<float>(sum) - 8.0f * a[0].s);
}

TERN_HD float block_dot(const BlockQ4_1& b, int, const ActBlock* a) {
  const int sum = detail::dot32(a[0], [&](int i, int& lo, int& hi) {
    detail::nibble_words<kBlockAlign<BlockQ4_1>>(b.qs, i, lo, hi);
  });
  return half_to_float(b.d) * a[0].d * static_cast<float>(sum) + half_to_float(b.m) * a[0].s;
}

TERN_HD float block_dot(const BlockQ5_0& b, int, const ActBlock* a) {
  const auto qh = static_cast<uint32_t>(load_i32<kBlockAlign<BlockQ5_0>>(b.qh));
  const int sum = detail::dot32(a[0], [&](int i, int& lo, int& hi) {
    int lo5, hi5;
    detail::nibble_words<kBlockAlign<BlockQ5_0>>(b.qs, i, lo, hi);
    detail::fifth_bits(qh, i, lo5, hi5);
    lo |= lo5;
    hi |= hi5;
  });
  return half_to_float(b.d) * (a[0].d * static_cast<float>(sum) - 16.0f * a[0].s);
}

TERN_HD float block_dot(const BlockQ5_1& b, int, const ActBlock* a) {
  const auto qh = static_cast<uint32_t>(load_i32<kBlockAlign<BlockQ5_1>>(b.qh));
  const int sum = detail::dot32(a[0], [&](int i, int& lo, int& hi) {
    int lo5, hi5;
    detail::nibble_words<kBlockAlign<BlockQ5_1>>(b.qs, i, lo, hi);
    detail::fifth_bits(qh, i, lo5, hi5);
    lo |= lo5;
    hi |= hi5;
  });
  return half_to_float(b.d) * a[0].d * static_cast<float>(sum) + half_to_float(b.m) * a[0].s;
}

TERN_HD float block_dot(const BlockQ8_0& b, int, const ActBlock* a) {
  const int sum = detail::dot32(a[0], [&](int i, int& lo, int& hi) {
    lo = load_i32<kBlockAlign<BlockQ8_0>>(b.qs + 4 * i);
    hi = load_i32<kBlockAlign<BlockQ8_0>>(b.qs + 16 + 4 * i);
  });
  return half_to_float(b.d) * a[0].d * static_cast<float>(sum);
}

TERN_HD float block_dot(const BlockIQ4_NL& b, int, const ActBlock* a) {
  const int sum = detail::dot32(a[0], [&](int i, int& lo, int& hi) {
    detail::nibble_words<kBlockAlign<BlockIQ4_NL>>(b.qs, i, lo, hi);
    lo = detail::iq4_levels(lo);
    hi = detail::iq4_levels(hi);
  });
  return half_to_float(b.d) * a[0].d * static_cast<float>(sum);
}

// ---- K-quants and IQ4_XS: 256-value super-blocks ----

// Q4_K, Q5_K and Q6_K take 16 quant bytes per unit (32 values), read as one or two vector
// loads, so the lanes of a warp read a row's bytes in order (coalesced).

/// Low or high nibbles of four quant words, plus `fifth` (0/1 per byte) as bit 4.
TERN_HD int nibbles_with_bit4(int q, int shift, int high_bits, int high_shift) {
  return ((q >> shift) & detail::kLowNibbles) | (((high_bits >> high_shift) & detail::kOnes) << 4);
}

/// Q4_K/Q5_K unit u (0..7): qs bytes 16u..16u+15 hold values 16(u%2).. of sub-blocks 2j (low
/// nibbles) and 2j+1 (high nibbles), j = u/2. `high` (Q5_K: qh bytes 16(u%2)..) adds bit 4
/// from bits 2j and 2j+1. The sub-blocks' min terms use their activation blocks' whole sums,
/// so the even unit adds them once.
template <typename Block>
TERN_HD float k4_unit_dot(const Block& b, int u, const int (&q)[4], const int (&high)[4],
                          const ActBlock* a) {
  const int j = u / 2, half = u % 2;
  int act_lo[4], act_hi[4];
  detail::act_words16(a[2 * j], half, act_lo);
  detail::act_words16(a[2 * j + 1], half, act_hi);
  int sum_lo = 0, sum_hi = 0;
  TERN_UNROLL
  for (int i = 0; i < 4; ++i) {
    sum_lo = dp4a(nibbles_with_bit4(q[i], 0, high[i], 2 * j), act_lo[i], sum_lo);
    sum_hi = dp4a(nibbles_with_bit4(q[i], 4, high[i], 2 * j + 1), act_hi[i], sum_hi);
  }
  int sc0, m0, sc1, m1;
  detail::scale_min_k4(b.scales, 2 * j, sc0, m0);
  detail::scale_min_k4(b.scales, 2 * j + 1, sc1, m1);
  const float dots = static_cast<float>(sc0) * a[2 * j].d * static_cast<float>(sum_lo) +
                     static_cast<float>(sc1) * a[2 * j + 1].d * static_cast<float>(sum_hi);
  float r = half_to_float(b.d) * dots;
  if (half == 0) {
    const float mins =
        static_cast<float>(m0) * a[2 * j].s + static_cast<float>(m1) * a[2 * j + 1].s;
    r -= half_to_float(b.dmin) * mins;
  }
  return r;
}

TERN_HD float block_dot(const BlockQ4_K& b, int u, const ActBlock* a) {
  int q[4];
  load_16<align_at<BlockQ4_K>(offsetof(BlockQ4_K, qs))>(b.qs + 16 * u, q);
  constexpr int kNoHighBits[4] = {};
  return k4_unit_dot(b, u, q, kNoHighBits, a);
}

TERN_HD float block_dot(const BlockQ5_K& b, int u, const ActBlock* a) {
  int q[4], high[4];
  load_16<align_at<BlockQ5_K>(offsetof(BlockQ5_K, qs))>(b.qs + 16 * u, q);
  load_16<align_at<BlockQ5_K>(offsetof(BlockQ5_K, qh))>(b.qh + 16 * (u % 2), high);
  return k4_unit_dot(b, u, q, high, a);
}

/// Unit u (0..7): half h = u/4, group k = (u/2)%2, values l = 16(u%2).. of groups k (low
/// nibbles of ql[64h + 32k + l]) and k + 2 (high nibbles); the high 2 bits from fields k and
/// k + 2 of qh[32h + l]; q - 32 as signed bytes. Each 16 values have their own scale,
/// index 8h + 2(group) + u%2.
TERN_HD float block_dot(const BlockQ6_K& b, int u, const ActBlock* a) {
  const int h = u / 4, k = (u / 2) % 2, half = u % 2;
  int ql[4], qh[4], act_lo[4], act_hi[4];
  load_16<align_at<BlockQ6_K>(offsetof(BlockQ6_K, ql))>(b.ql + 16 * u, ql);
  load_16<align_at<BlockQ6_K>(offsetof(BlockQ6_K, qh))>(b.qh + 32 * h + 16 * half, qh);
  detail::act_words16(a[4 * h + k], half, act_lo);
  detail::act_words16(a[4 * h + k + 2], half, act_hi);
  int sum_lo = 0, sum_hi = 0;
  TERN_UNROLL
  for (int i = 0; i < 4; ++i) {
    const int lo = (ql[i] & detail::kLowNibbles) | (((qh[i] >> (2 * k)) & 0x03030303) << 4);
    const int hi = ((ql[i] >> 4) & detail::kLowNibbles) | (((qh[i] >> (2 * k + 4)) & 0x03030303) << 4);
    sum_lo = dp4a(vsub4(lo, 0x20202020), act_lo[i], sum_lo);
    sum_hi = dp4a(vsub4(hi, 0x20202020), act_hi[i], sum_hi);
  }
  const int scale_lo = b.scales[8 * h + 2 * k + half];
  const int scale_hi = b.scales[8 * h + 2 * (k + 2) + half];
  return half_to_float(b.d) *
         (a[4 * h + k].d * static_cast<float>(scale_lo * sum_lo) +
          a[4 * h + k + 2].d * static_cast<float>(scale_hi * sum_hi));
}

/// Unit u (0..1): values 128u + 32k + l come from 2-bit field k of qs[32u + l]; 16-value
/// group 8u + 2k + l/16 has scale (low nibble) and min (high nibble).
TERN_HD float block_dot(const BlockQ2_K& b, int u, const ActBlock* a) {
  float acc_d = 0.0f, acc_m = 0.0f;
  TERN_UNROLL
  for (int k = 0; k < 4; ++k) {
    const ActBlock& act = a[4 * u + k];
    int sums[2] = {};
    TERN_UNROLL
    for (int i = 0; i < 8; ++i) {
      const int w = load_i32<kBlockAlign<BlockQ2_K>>(b.qs + 32 * u + 4 * i);
      sums[i / 4] = dp4a((w >> (2 * k)) & 0x03030303, detail::act_word(act, i), sums[i / 4]);
    }
    const int g = 8 * u + 2 * k;
    const int sumi = (b.scales[g] & 0x0f) * sums[0] + (b.scales[g + 1] & 0x0f) * sums[1];
    const int summ = (b.scales[g] >> 4) * detail::act_sum16(act, 0) +
                     (b.scales[g + 1] >> 4) * detail::act_sum16(act, 1);
    acc_d += act.d * static_cast<float>(sumi);
    acc_m += act.d * static_cast<float>(summ);
  }
  return half_to_float(b.d) * acc_d - half_to_float(b.dmin) * acc_m;
}

/// As Q2_K for the low bits; bit (4u + k) of hmask[l] set means no -4 offset, so
/// q = low | high << 2, minus 4, as signed bytes. Scales are signed 6-bit.
TERN_HD float block_dot(const BlockQ3_K& b, int u, const ActBlock* a) {
  constexpr int kAlign = kBlockAlign<BlockQ3_K>;
  float acc = 0.0f;
  TERN_UNROLL
  for (int k = 0; k < 4; ++k) {
    int sums[2] = {};
    TERN_UNROLL
    for (int i = 0; i < 8; ++i) {
      const int w = load_i32<kAlign>(b.qs + 32 * u + 4 * i);
      const int m = load_i32<kAlign>(b.hmask + 4 * i);
      const int q = ((w >> (2 * k)) & 0x03030303) | (((m >> (4 * u + k)) & detail::kOnes) << 2);
      sums[i / 4] = dp4a(vsub4(q, 0x04040404), detail::act_word(a[4 * u + k], i), sums[i / 4]);
    }
    const int g = 8 * u + 2 * k;
    const int sumi =
        detail::scale_q3_k(b.scales, g) * sums[0] + detail::scale_q3_k(b.scales, g + 1) * sums[1];
    acc += a[4 * u + k].d * static_cast<float>(sumi);
  }
  return half_to_float(b.d) * acc;
}

/// Unit u = sub-block ib (0..7): IQ4_NL levels of qs[16ib..16ib+15] times d * (ls - 32).
TERN_HD float block_dot(const BlockIQ4_XS& b, int u, const ActBlock* a) {
  const int sum = detail::dot32(a[u], [&](int i, int& lo, int& hi) {
    detail::nibble_words<kBlockAlign<BlockIQ4_XS>>(b.qs + 16 * u, i, lo, hi);
    lo = detail::iq4_levels(lo);
    hi = detail::iq4_levels(hi);
  });
  return half_to_float(b.d) * static_cast<float>(detail::scale_iq4_xs(b, u)) * a[u].d *
         static_cast<float>(sum);
}

}  // namespace tern::cuda
