// Per weight type: QK values per block of BLOCK_BYTES bytes, and dequant8(block, j, v)
// giving values 8j..8j+7 of the block at byte offset `block` (see src/types/blocks.h for
// the layouts; the bit positions below follow the CPU decoders in src/types/quant_*.cpp).
#include "bytes.glsl"

#if defined(TYPE_F32)
#define QK 8
#define BLOCK_BYTES 32
void dequant8(uint blk, uint j, out float v[8]) {
  [[unroll]] for (uint k = 0; k < 8; ++k) v[k] = uintBitsToFloat(rd32(blk + 4 * k));
}

#elif defined(TYPE_F16)
#define QK 8
#define BLOCK_BYTES 16
void dequant8(uint blk, uint j, out float v[8]) {
  [[unroll]] for (uint k = 0; k < 4; ++k) {
    vec2 h = unpackHalf2x16(rd32(blk + 4 * k));
    v[2 * k] = h.x;
    v[2 * k + 1] = h.y;
  }
}

#elif defined(TYPE_Q4_0)
// d (f16), qs[16]: value i < 16 is the low nibble of qs[i], value i >= 16 the high
// nibble of qs[i - 16]; x = d * (q - 8).
#define QK 32
#define BLOCK_BYTES 18
void dequant8(uint blk, uint j, out float v[8]) {
  float d = rdh(blk);
  uint at = blk + 2 + 8 * (j & 1u);
  uint shift = j >= 2 ? 4u : 0u;
  uint w[2] = {rd32(at), rd32(at + 4)};
  [[unroll]] for (uint k = 0; k < 8; ++k) {
    v[k] = d * (float((w[k / 4] >> (8u * (k % 4) + shift)) & 0xfu) - 8.0);
  }
}

#elif defined(TYPE_Q8_0)
// d (f16), qs[32] int8; x = d * q.
#define QK 32
#define BLOCK_BYTES 34
void dequant8(uint blk, uint j, out float v[8]) {
  float d = rdh(blk);
  uint w[2] = {rd32(blk + 2 + 8 * j), rd32(blk + 6 + 8 * j)};
  [[unroll]] for (uint k = 0; k < 8; ++k) v[k] = d * float(sbyte_of(w[k / 4], k % 4));
}

#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
// d, dmin (f16), scales[12] (8 packed 6-bit scale/min pairs), [Q5_K: qh[32]], qs[128].
// Value v: sub-block v/32; nibble of qs[32*(v/64) + v%32], high when v%64 >= 32;
// Q5_K's fifth bit is bit v/32 of qh[v%32]. x = d*scale*q - dmin*min.
#define QK 256
#ifdef TYPE_Q4_K
#define BLOCK_BYTES 144
#define QS_AT 16
#else
#define BLOCK_BYTES 176
#define QS_AT 48
#endif
void scale_min_k4(uint blk, uint s, out float sc, out float m) {
  uint at = blk + 4;
  if (s < 4) {
    sc = float(rd8(at + s) & 63u);
    m = float(rd8(at + s + 4) & 63u);
  } else {
    uint hi = rd8(at + s + 4);
    sc = float((hi & 0xfu) | ((rd8(at + s - 4) >> 6) << 4));
    m = float((hi >> 4) | ((rd8(at + s) >> 6) << 4));
  }
}
void dequant8(uint blk, uint j, out float v[8]) {
  uint v0 = 8 * j;
  float sc, m;
  scale_min_k4(blk, v0 / 32, sc, m);
  float dl = rdh(blk) * sc;
  float ml = rdh(blk + 2) * m;
  uint at = blk + QS_AT + 32 * (v0 / 64) + v0 % 32;
  uint shift = (v0 % 64) >= 32 ? 4u : 0u;
  uint w[2] = {rd32(at), rd32(at + 4)};
#ifdef TYPE_Q5_K
  uint h[2] = {rd32(blk + 16 + v0 % 32), rd32(blk + 20 + v0 % 32)};
  uint bit = v0 / 32;
#endif
  [[unroll]] for (uint k = 0; k < 8; ++k) {
    uint q = (w[k / 4] >> (8u * (k % 4) + shift)) & 0xfu;
#ifdef TYPE_Q5_K
    q |= ((byte_of(h[k / 4], k % 4) >> bit) & 1u) << 4;
#endif
    v[k] = dl * float(q) - ml;
  }
}

#elif defined(TYPE_Q6_K)
// ql[128], qh[64], scales[16] (int8), d (f16). Value v: h = v/128, k = (v%128)/32,
// l = v%32; low nibble (k < 2) or high nibble of ql[64h + 32*(k%2) + l], high 2 bits
// field k of qh[32h + l]; x = d * scales[v/16] * (q - 32).
#define QK 256
#define BLOCK_BYTES 210
void dequant8(uint blk, uint j, out float v[8]) {
  uint v0 = 8 * j;
  uint h = v0 / 128, kk = (v0 % 128) / 32, l = v0 % 32;
  float dl = rdh(blk + 208) * float(int(rd8(blk + 192 + v0 / 16) << 24) >> 24);
  uint lo_at = blk + 64 * h + 32 * (kk % 2) + l;
  uint hi_at = blk + 128 + 32 * h + l;
  uint lo[2] = {rd32(lo_at), rd32(lo_at + 4)};
  uint hi[2] = {rd32(hi_at), rd32(hi_at + 4)};
  uint shift = kk < 2 ? 0u : 4u;
  [[unroll]] for (uint k = 0; k < 8; ++k) {
    uint low = (lo[k / 4] >> (8u * (k % 4) + shift)) & 0xfu;
    uint high = (byte_of(hi[k / 4], k % 4) >> (2u * kk)) & 3u;
    v[k] = dl * float(int(low | (high << 4)) - 32);
  }
}

#else
#error "no TYPE_* defined"
#endif
