// Block layouts of every quantized GGUF tensor type, byte for byte as they sit in a file.
// Plain structs with no methods so CPU, CUDA and HIP code can share them. fp16 fields are
// stored as uint16_t bits (IEEE half); convert with f16_to_f32. All multi-byte fields are
// little-endian, as GGUF is.
#pragma once

#include <cstdint>

namespace tern {

/// Values per block of the "legacy" types (Q4_0 ... Q8_1, IQ4_NL, MXFP4).
inline constexpr int kBlock32 = 32;
/// Values per super-block of the K, IQ and ternary types.
inline constexpr int kSuperBlock = 256;

// ---- legacy: one scale per 32 values ----

struct BlockQ4_0 {
  uint16_t d;                // scale: x = d * (q - 8)
  uint8_t qs[kBlock32 / 2];  // nibbles: low = values 0..15, high = values 16..31
};
struct BlockQ4_1 {
  uint16_t d;  // scale: x = d * q + m
  uint16_t m;  // minimum
  uint8_t qs[kBlock32 / 2];
};
struct BlockQ5_0 {
  uint16_t d;     // x = d * (q - 16), q = nibble | bit << 4
  uint8_t qh[4];  // bit j (little-endian u32) = 5th bit of value j
  uint8_t qs[kBlock32 / 2];
};
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kBlock32 / 2];
};
struct BlockQ8_0 {
  uint16_t d;  // x = d * q
  int8_t qs[kBlock32];
};
// ggml's block_q8_1 is 2 fp16 + 32 int8 = 36 bytes and GGUF files are sized with it.
// gguf-py's GGML_QUANT_SIZES says 40 (a leftover from when d and s were f32); we keep 36.
struct BlockQ8_1 {
  uint16_t d;  // x = d * q
  uint16_t s;  // d * sum(q), for dot products; unused when dequantizing
  int8_t qs[kBlock32];
};

// ---- K-quants: 256 values in sub-blocks of 16 or 32, 6-bit or 4-bit sub-scales ----

struct BlockQ2_K {
  uint8_t scales[kSuperBlock / 16];  // per 16 values: low nibble scale, high nibble min
  uint8_t qs[kSuperBlock / 4];       // 2-bit quants
  uint16_t d;                        // super-scale of the scales
  uint16_t dmin;                     // super-scale of the mins
};
struct BlockQ3_K {
  uint8_t hmask[kSuperBlock / 8];  // high bit of each quant (set = no -4 offset)
  uint8_t qs[kSuperBlock / 4];     // low 2 bits
  uint8_t scales[12];              // 16 signed 6-bit scales, packed
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];  // 8 pairs of 6-bit (scale, min), packed
  uint8_t qs[kSuperBlock / 2];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kSuperBlock / 8];
  uint8_t qs[kSuperBlock / 2];
};
struct BlockQ6_K {
  uint8_t ql[kSuperBlock / 2];      // low 4 bits
  uint8_t qh[kSuperBlock / 4];      // high 2 bits
  int8_t scales[kSuperBlock / 16];  // 8-bit signed sub-scales
  uint16_t d;
};
// Q8_K is the activation format of K-quant dot products; its scale is a full float.
struct BlockQ8_K {
  float d;
  int8_t qs[kSuperBlock];
  int16_t bsums[kSuperBlock / 16];  // sum of each group of 16 quants
};

// ---- IQ: lattice ("grid") codebooks, see iq1_grid.h, iq2_grids.h, iq3_grids.h ----

struct BlockIQ2_XXS {
  uint16_t d;
  uint16_t qs[kSuperBlock / 8];  // per 32 values: 4 grid bytes, then 4x7 sign bits + 4-bit scale
};
struct BlockIQ2_XS {
  uint16_t d;
  uint16_t qs[kSuperBlock / 8];      // 9-bit grid index | 7-bit sign index << 9
  uint8_t scales[kSuperBlock / 32];  // two 4-bit scales per 32 values
};
struct BlockIQ2_S {
  uint16_t d;
  uint8_t qs[kSuperBlock / 4];   // 32 low grid bytes, then 32 sign bytes
  uint8_t qh[kSuperBlock / 32];  // grid index bits 8-9
  uint8_t scales[kSuperBlock / 32];
};
struct BlockIQ3_XXS {
  uint16_t d;
  uint8_t qs[3 * kSuperBlock / 8];  // 64 grid bytes, then 8 u32 of 4x7 sign bits + 4-bit scale
};
struct BlockIQ3_S {
  uint16_t d;
  uint8_t qs[kSuperBlock / 4];   // grid index low bytes
  uint8_t qh[kSuperBlock / 32];  // grid index bit 8
  uint8_t signs[kSuperBlock / 8];
  uint8_t scales[kSuperBlock / 64];  // 4-bit, x = d * (1 + 2 * s)
};
struct BlockIQ1_S {
  uint16_t d;
  uint8_t qs[kSuperBlock / 8];    // grid index low bytes
  uint16_t qh[kSuperBlock / 32];  // 4x3 index bits, 3-bit scale at 12, delta sign at 15
};
// IQ1_M has no separate fp16 field: the super-scale's 4 nibbles are the top nibbles of
// the 4 little-endian u16 words of `scales`.
struct BlockIQ1_M {
  uint8_t qs[kSuperBlock / 8];
  uint8_t qh[kSuperBlock / 16];      // per 8 values: 3 index bits + delta sign bit
  uint8_t scales[kSuperBlock / 32];  // 3-bit sub-scales, 4 per u16 word
};
struct BlockIQ4_NL {
  uint16_t d;  // x = d * kIq4nlValues[nibble]
  uint8_t qs[kBlock32 / 2];
};
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;  // high 2 bits of the 8 6-bit sub-scales
  uint8_t scales_l[kSuperBlock / 64];
  uint8_t qs[kSuperBlock / 2];
};

// ---- ternary (BitNet b1.58, TriLM) and microscaling ----

struct BlockTQ1_0 {
  uint8_t qs[(kSuperBlock - 4 * kSuperBlock / 64) / 5];  // 5 trits per byte (base 3, scaled)
  uint8_t qh[kSuperBlock / 64];                          // 4 trits per byte
  uint16_t d;
};
struct BlockTQ2_0 {
  uint8_t qs[kSuperBlock / 4];  // 2 bits per value: q - 1 in {-1, 0, 1}
  uint16_t d;
};
struct BlockMXFP4 {
  uint8_t e;                 // E8M0 shared exponent
  uint8_t qs[kBlock32 / 2];  // E2M1 nibbles
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74);
static_assert(sizeof(BlockIQ2_S) == 82 && sizeof(BlockIQ3_XXS) == 98);
static_assert(sizeof(BlockIQ3_S) == 110 && sizeof(BlockIQ1_S) == 50);
static_assert(sizeof(BlockIQ1_M) == 56 && sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136 && sizeof(BlockTQ1_0) == 54);
static_assert(sizeof(BlockTQ2_0) == 66 && sizeof(BlockMXFP4) == 17);

}  // namespace tern
