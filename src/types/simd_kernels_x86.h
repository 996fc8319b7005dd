// The x86 SIMD kernel bodies, expanded once per SIMD level by simd_kernels_<level>.cpp with
// TERN_SIMD_NAMESPACE set (avx2, avx512) and that level's compiler flags. Everything here is
// either in that namespace or in an anonymous one: no inline function or template shared
// with baseline code is instantiated with wider instructions (the linker could pick it).
//
// Dot kernels: one weight row of n values (blocks of the weight type) against n_x <= 4
// activation rows (blocks of the type's vec_dot_type, x_stride bytes apart); out[j] =
// w . x_j. The weight is unpacked once per block and used for every activation row, which
// is what makes prompt processing (4 rows at a time) cheaper per token than decoding.
// Integer products are exact; each block's (or sub-block's) sum is scaled in float.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including simd_kernels_x86.h"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <vector>

#include "types/blocks.h"
#include "types/quant_iq.h"
#include "types/simd_kernels.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

constexpr int kMaxRows = 4;  // activation rows per call (type_table.h: kMaxDotRows)

float f16(uint16_t h) { return _cvtsh_ss(h); }

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

int hsum_i32(__m128i h) {
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
  return _mm_cvtsi128_si32(h);
}

int hsum_i32(__m256i v) {
  return hsum_i32(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

__m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
__m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Software prefetch of `bytes` bytes at p into L1. Decode streams its weight rows once: each
// kernel fetches the rows after its own at the pace it consumes them (the hardware
// prefetcher alone leaves the stream waiting on DRAM: measured 7 -> 12 GB/s for Q4_0).
template <size_t kBytes>
void prefetch(const void* p) {
  for (size_t o = 0; o < kBytes; o += 64) {
    _mm_prefetch(static_cast<const char*>(p) + o, _MM_HINT_T0);
  }
}

// Block i of the row that follows the nb-block row wb (weight rows are contiguous).
template <typename Block>
void prefetch_next_row(const Block* wb, int64_t nb, int64_t i) {
  prefetch<sizeof(Block)>(wb + nb + i);
}

// u (unsigned bytes) . s (signed bytes), summed per 4 bytes: 8 int32.
__m256i dot_u8_i8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// u . s in pairs, each 16-bit pair sum times its 16-bit scale, summed per 4 bytes.
__m256i scaled_dot(__m256i u, __m256i s, __m256i scales16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scales16);
}

// Byte i of the result is 0xff where bit i of `bits` is set.
__m256i expand_bits(uint32_t bits) {
  const __m256i shuffle = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                            0x0101010101010101, 0x0000000000000000);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuffle);
  const __m256i bit_mask = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  bytes = _mm256_or_si256(bytes, bit_mask);
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles first, then high nibbles (the Q4_0 order).
// The bytes go to both 128-bit lanes (a load, no shuffle); the upper lane is shifted by 4.
__m256i nibbles_32(const uint8_t* p) {
  __m256i v = _mm256_broadcastsi128_si256(load128(p));
  __m256i shifted = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
  return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0f));
}

const uint8_t* offset_bytes(const void* p, int64_t rows, size_t stride) {
  return static_cast<const uint8_t*>(p) + stride * static_cast<size_t>(rows);
}

template <typename Block>
const Block& act(const void* x, size_t stride, int j, int64_t i) {
  return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(x) + stride * j)[i];
}

// ---- legacy types: blocks of 32 against Q8_0 (or Q8_1 where the weight has a minimum) ----

// Each type unpacks a block to 32 bytes q and says how x = d * f(q) (+ m) reads them:
// kSigned: q are signed bytes; otherwise q are unsigned and x = d * (q - kOffset) (+ m where
// kMin). The offset is applied as kOffset * sum(x) per activation block, computed once and
// shared by every weight row of a tile (cheaper than moving signs per product).
// Two blocks b, c for the decode tile (legacy_decode4): lo = [b's values 0-15 | c's 0-15],
// hi = [b's 16-31 | c's 16-31], so that every 128-bit lane holds one block.
struct BlockPair {
  __m256i lo, hi;
};

BlockPair nibbles_pair(const uint8_t* b, const uint8_t* c) {
  __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(b)), load128(c), 1);
  const __m256i low = _mm256_set1_epi8(0x0f);
  return {_mm256_and_si256(v, low), _mm256_and_si256(_mm256_srli_epi16(v, 4), low)};
}

// Q5_0/Q5_1: the nibbles with bit 4 from qh (bit i for value i).
uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
template <typename Block>
__m256i five_bits(const Block& b) {
  __m256i high = _mm256_and_si256(expand_bits(load_u32(b.qh)), _mm256_set1_epi8(0x10));
  return _mm256_or_si256(nibbles_32(b.qs), high);
}
template <typename Block>
BlockPair five_bits_pair(const Block& b, const Block& c) {
  uint32_t hb = load_u32(b.qh), hc = load_u32(c.qh);
  BlockPair p = nibbles_pair(b.qs, c.qs);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  __m256i lo = _mm256_and_si256(expand_bits((hb & 0xffff) | hc << 16), bit4);
  __m256i hi = _mm256_and_si256(expand_bits(hb >> 16 | (hc & 0xffff0000)), bit4);
  return {_mm256_or_si256(p.lo, lo), _mm256_or_si256(p.hi, hi)};
}

struct Q4_0 {
  using Block = BlockQ4_0;
  using Act = BlockQ8_0;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 8;
  static constexpr bool kMin = false;
  static __m256i unpack(const Block& b) { return nibbles_32(b.qs); }
  static BlockPair unpack2(const Block& b, const Block& c) { return nibbles_pair(b.qs, c.qs); }
};
struct Q4_1 {
  using Block = BlockQ4_1;
  using Act = BlockQ8_1;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static __m256i unpack(const Block& b) { return nibbles_32(b.qs); }
  static BlockPair unpack2(const Block& b, const Block& c) { return nibbles_pair(b.qs, c.qs); }
};
struct Q5_0 {
  using Block = BlockQ5_0;
  using Act = BlockQ8_0;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 16;
  static constexpr bool kMin = false;
  static __m256i unpack(const Block& b) { return five_bits(b); }
  static BlockPair unpack2(const Block& b, const Block& c) { return five_bits_pair(b, c); }
};
struct Q5_1 {
  using Block = BlockQ5_1;
  using Act = BlockQ8_1;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static __m256i unpack(const Block& b) { return five_bits(b); }
  static BlockPair unpack2(const Block& b, const Block& c) { return five_bits_pair(b, c); }
};
struct Q8_0 {
  using Block = BlockQ8_0;
  using Act = BlockQ8_0;
  static constexpr bool kSigned = true;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = false;
  static __m256i unpack(const Block& b) { return load256(b.qs); }
  static BlockPair unpack2(const Block& b, const Block& c) {
    return {_mm256_inserti128_si256(_mm256_castsi128_si256(load128(b.qs)), load128(c.qs), 1),
            _mm256_inserti128_si256(_mm256_castsi128_si256(load128(b.qs + 16)), load128(c.qs + 16),
                                    1)};
  }
};
struct IQ4_NL {
  using Block = BlockIQ4_NL;
  using Act = BlockQ8_0;
  static constexpr bool kSigned = true;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = false;
  static __m256i table() { return _mm256_broadcastsi128_si256(load128(kIq4nlValues)); }
  static __m256i unpack(const Block& b) { return _mm256_shuffle_epi8(table(), nibbles_32(b.qs)); }
  static BlockPair unpack2(const Block& b, const Block& c) {
    BlockPair p = nibbles_pair(b.qs, c.qs);
    return {_mm256_shuffle_epi8(table(), p.lo), _mm256_shuffle_epi8(table(), p.hi)};
  }
};

// R fp16 values (R <= 4), one per weight row, converted at once: lane r = rows[r][i].*field.
// Each is inserted straight from memory (one instruction per row, not load + shift + or).
template <int R, typename Block>
__m128 row_halves(const Block* const* rows, int64_t i, uint16_t Block::*field) {
  static_assert(R >= 1 && R <= 4);
  __m128i h = _mm_cvtsi32_si128(rows[0][i].*field);
  if constexpr (R > 1) h = _mm_insert_epi16(h, rows[1][i].*field, 1);
  if constexpr (R > 2) h = _mm_insert_epi16(h, rows[2][i].*field, 2);
  if constexpr (R > 3) h = _mm_insert_epi16(h, rows[3][i].*field, 3);
  return _mm_cvtph_ps(h);
}

// R weight rows (w_stride bytes apart) x NX activation rows: y[j * y_stride + r] = w_r . x_j.
// Each activation block (quants, scale, offset sum) is loaded once for all R rows and each
// weight block unpacked once for all NX; the R x NX float accumulators are independent
// chains, which hides FMA latency (R x NX <= 8 keeps them in AVX2's 16 registers). Shapes:
// R = 4, NX = 1 decodes (one token); R = 2, NX <= 4 is the prompt tile; R = 1 the tails.
template <typename W, int R, int NX>
void legacy_tile(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride,
                 float* y, int64_t y_stride) {
  using Act = typename W::Act;
  using Block = typename W::Block;
  const Block* wb[R];
  for (int r = 0; r < R; ++r) {
    wb[r] = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + w_stride * r);
  }
  __m256 acc[R][NX];
  __m128 min_acc[NX];  // lanes r: sum of m_r * s_j (types with a minimum)
  for (int j = 0; j < NX; ++j) {
    min_acc[j] = _mm_setzero_ps();
    for (int r = 0; r < R; ++r) acc[r][j] = _mm256_setzero_ps();
  }
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    __m256i q[R];
    __m256i q_abs[R];  // signed weights: |q|, with q's signs moved onto x per product
    for (int r = 0; r < R; ++r) {
      q[r] = W::unpack(wb[r][i]);
      q_abs[r] = W::kSigned ? _mm256_sign_epi8(q[r], q[r]) : q[r];
    }
    __m128 d = row_halves<R>(wb, i, &Block::d);
    if constexpr (NX == 1) {  // decode: the next tile's blocks, R per step as here
      prefetch<R * sizeof(Block)>(offset_bytes(wb[0], R, w_stride) + i * R * sizeof(Block));
    }
    for (int j = 0; j < NX; ++j) {
      const Act& a = act<Act>(x, x_stride, j, i);
      __m256i xq = load256(a.qs);
      // scales[r] = d_r * d_x, broadcast per row from memory (a register per row would spill).
      alignas(16) float scales[4];
      _mm_store_ps(scales, _mm_mul_ps(d, _mm_set1_ps(f16(a.d))));
      __m256i offset = _mm256_setzero_si256();  // kOffset * x summed per 4 bytes
      if constexpr (W::kOffset != 0) {
        offset = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(W::kOffset), xq), ones16);
      }
      for (int r = 0; r < R; ++r) {
        __m256i p = dot_u8_i8(q_abs[r], W::kSigned ? _mm256_sign_epi8(xq, q[r]) : xq);
        if constexpr (W::kOffset != 0) p = _mm256_sub_epi32(p, offset);
        acc[r][j] =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(scales + r), acc[r][j]);
      }
      if constexpr (W::kMin) {
        __m128 m = row_halves<R>(wb, i, &Block::m);
        min_acc[j] = _mm_fmadd_ps(m, _mm_set1_ps(f16(a.s)), min_acc[j]);
      }
    }
  }
  for (int j = 0; j < NX; ++j) {
    alignas(16) float mins[4];
    _mm_store_ps(mins, min_acc[j]);
    for (int r = 0; r < R; ++r) y[j * y_stride + r] = hsum(acc[r][j]) + mins[r];
  }
}

// ---- legacy decode: one token against 4 weight rows, their sums in one vector ----

// What every 4-row pass of one dot_rows call shares, per two activation blocks b, c: their
// quants in the BlockPair layout (xlo, xhi) and, in lanes [b x4 | c x4], the scale d_x,
// kOffset * sum(x) and Q8_1's s = d * sum(x).
struct alignas(32) ActPair {
  int8_t xlo[32], xhi[32];
  float dx[8];
  int32_t offset[8];
  float s[8];
};

// The ActPairs of nb activation blocks; an odd last block is paired with a zero-scaled copy.
template <typename W>
void act_pairs(const typename W::Act* xb, int64_t nb, std::vector<ActPair>& pairs) {
  pairs.resize(static_cast<size_t>((nb + 1) / 2));
  for (int64_t i = 0; i < nb; i += 2) {
    ActPair& p = pairs[static_cast<size_t>(i / 2)];
    const typename W::Act* half[2] = {&xb[i], &xb[std::min(i + 1, nb - 1)]};
    for (int h = 0; h < 2; ++h) {
      const auto& a = *half[h];
      std::memcpy(p.xlo + 16 * h, a.qs, 16);
      std::memcpy(p.xhi + 16 * h, a.qs + 16, 16);
      int offset = 0;
      if constexpr (W::kOffset != 0) {
        offset = hsum_i32(dot_u8_i8(_mm256_set1_epi8(W::kOffset), load256(a.qs)));
      }
      bool phantom = i + h >= nb;
      for (int k = 4 * h; k < 4 * h + 4; ++k) {
        p.dx[k] = phantom ? 0.0f : f16(a.d);
        p.offset[k] = offset;
        if constexpr (W::kMin) p.s[k] = phantom ? 0.0f : f16(a.s);
      }
    }
  }
}

// The fp16 `field` of blocks i0 and i1 of 4 rows, lanes [rows at i0 | rows at i1], each
// inserted straight from memory.
template <typename Block>
__m256 row_halves8(const Block* const* rows, int64_t i0, int64_t i1, uint16_t Block::*field) {
  __m128i h = _mm_cvtsi32_si128(rows[0][i0].*field);
  h = _mm_insert_epi16(h, rows[1][i0].*field, 1);
  h = _mm_insert_epi16(h, rows[2][i0].*field, 2);
  h = _mm_insert_epi16(h, rows[3][i0].*field, 3);
  h = _mm_insert_epi16(h, rows[0][i1].*field, 4);
  h = _mm_insert_epi16(h, rows[1][i1].*field, 5);
  h = _mm_insert_epi16(h, rows[2][i1].*field, 6);
  h = _mm_insert_epi16(h, rows[3][i1].*field, 7);
  return _mm256_cvtph_ps(h);
}

// u0 . s0 + u1 . s1 (unsigned . signed bytes) summed per 4 bytes: 8 int32. kNarrow: every
// u <= 31, so two maddubs pair sums (<= 2 * 31 * 128 each) still add in int16.
template <bool kNarrow>
__m256i dot2_u8_i8(__m256i u0, __m256i s0, __m256i u1, __m256i s1) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(dot_u8_i8(u0, s0), u1, s1);
#else
  if constexpr (kNarrow) {
    __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  }
  return _mm256_add_epi32(dot_u8_i8(u0, s0), dot_u8_i8(u1, s1));
#endif
}

// Blocks i0, i1 of 4 rows against their activations: int32 lanes [r0..r3 at i0 | r0..r3 at
// i1], without the offset.
template <typename W>
__m256i pair_sums4(const typename W::Block* const* wb, int64_t i0, int64_t i1, const ActPair& a) {
  __m256i xlo = load256(a.xlo), xhi = load256(a.xhi);
  __m256i p[4];
  for (int r = 0; r < 4; ++r) {
    BlockPair q = W::unpack2(wb[r][i0], wb[r][i1]);
    if constexpr (W::kSigned) {  // |q| . (x with q's signs)
      p[r] = dot2_u8_i8<false>(_mm256_sign_epi8(q.lo, q.lo), _mm256_sign_epi8(xlo, q.lo),
                               _mm256_sign_epi8(q.hi, q.hi), _mm256_sign_epi8(xhi, q.hi));
    } else {
      p[r] = dot2_u8_i8<true>(q.lo, xlo, q.hi, xhi);
    }
  }
  return _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
}

// R <= 4 weight rows (w_stride bytes apart) of nb blocks against one activation row:
// y[r] = w_r . x. Per two blocks the 4 rows' integer sums are folded into one vector
// [rows at b | rows at b + 1], converted and scaled once (a row-per-vector tile spends a
// convert, a multiply-add and an offset per row and block). Rows past R repeat row R - 1.
template <typename W>
void legacy_decode4(int64_t nb, const void* w, size_t w_stride, int R, const ActPair* pairs,
                    float* y) {
  using Block = typename W::Block;
  const Block* wb[4];
  for (int r = 0; r < 4; ++r) {
    wb[r] = reinterpret_cast<const Block*>(offset_bytes(w, std::min(r, R - 1), w_stride));
  }
  const uint8_t* next = offset_bytes(w, 4, w_stride);  // the next pass's rows, contiguous
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; i += 2) {
    int64_t i1 = std::min(i + 1, nb - 1);
    prefetch<8 * sizeof(Block)>(next + 4 * i * sizeof(Block));
    const ActPair& p = pairs[i / 2];
    __m256i sums = pair_sums4<W>(wb, i, i1, p);
    if constexpr (W::kOffset != 0) {
      sums = _mm256_sub_epi32(sums, _mm256_load_si256(reinterpret_cast<const __m256i*>(p.offset)));
    }
    __m256 scales = _mm256_mul_ps(row_halves8(wb, i, i1, &Block::d), _mm256_load_ps(p.dx));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scales, acc);
    if constexpr (W::kMin) {
      acc = _mm256_fmadd_ps(row_halves8(wb, i, i1, &Block::m), _mm256_load_ps(p.s), acc);
    }
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (int r = 0; r < R; ++r) y[r] = lanes[r] + lanes[r + 4];
}

// ---- K-quants and IQ4_XS: super-blocks of 256 against Q8_K ----

// Per super-block: the integer sum of q * x * sub-scale (8 int32 lanes) for each activation
// row; the caller scales it by d * x.d and adds the offset/minimum term from bsums.
template <int NX>
struct SuperSums {
  __m256i v[NX];
  SuperSums() {
    for (int j = 0; j < NX; ++j) v[j] = _mm256_setzero_si256();
  }
  // Adds chunk c (values 32c..32c+31, unsigned q) with per-16 scales.
  void add(const void* x, size_t stride, int64_t i, int c, __m256i q, __m256i scales16) {
    for (int j = 0; j < NX; ++j) {
      __m256i xq = load256(act<BlockQ8_K>(x, stride, j, i).qs + 32 * c);
      v[j] = _mm256_add_epi32(v[j], scaled_dot(q, xq, scales16));
    }
  }
};

// Sub-scales decoded in registers (never through a byte array on the stack: a scalar store
// reloaded as a vector stalls on store forwarding). Per-16 scales: 16 signed bytes.
struct Scales16 {
  __m256i lo, hi;  // int16 scales of groups 0-7 (lo) or 8-15 (hi), in both 128-bit lanes
  explicit Scales16(__m128i bytes) {
    __m256i s = _mm256_cvtepi8_epi16(bytes);
    lo = _mm256_permute2x128_si256(s, s, 0x00);
    hi = _mm256_permute2x128_si256(s, s, 0x11);
  }
  // Chunk c (values 32c..32c+31): lanes 0-7 group 2c's scale, lanes 8-15 group 2c+1's.
  __m256i chunk(int c) const {
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,  //
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    __m256i idx = _mm256_add_epi8(pick, _mm256_set1_epi8(static_cast<char>(4 * (c & 3))));
    return _mm256_shuffle_epi8(c < 4 ? lo : hi, idx);
  }
};

// Per-32 scales (Q4_K, Q5_K): 8 int16 in both 128-bit lanes.
struct Scales32 {
  __m256i s;
  explicit Scales32(__m128i scales16) : s(_mm256_broadcastsi128_si256(scales16)) {}
  // Chunk c's scale in every lane.
  __m256i chunk(int c) const {
    __m256i idx =
        _mm256_add_epi8(_mm256_set1_epi16(0x0100), _mm256_set1_epi8(static_cast<char>(2 * c)));
    return _mm256_shuffle_epi8(s, idx);
  }
};

// sum over 16-value groups g of scale[g] * bsums[g] for one Q8_K block; scales: 16 int8.
int group_sum(__m128i scales, const BlockQ8_K& a) {
  return hsum_i32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(scales), load256(a.bsums)));
}

// Finishes one super-block: acc += d * x.d * sums + per-row offset terms (already summed).
template <int NX>
void finish_super(const SuperSums<NX>& sums, const void* x, size_t stride, int64_t i, float d,
                  __m256* acc) {
  for (int j = 0; j < NX; ++j) {
    float dx = d * act<BlockQ8_K>(x, stride, j, i).d;
    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums.v[j]), _mm256_set1_ps(dx), acc[j]);
  }
}

template <int NX>
void store_rows(const __m256* acc, const float* extra, float* out) {
  for (int j = 0; j < NX; ++j) out[j] = hsum(acc[j]) + extra[j];
}

// Q2_K: x = d * sc * q - dmin * m per 16 values, q = 2 bits.
template <int NX>
void q2_k_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  const auto* wb = static_cast<const BlockQ2_K*>(w);
  __m256 acc[NX];
  float extra[NX] = {};
  for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
  const __m256i three = _mm256_set1_epi8(3);
  const __m128i nibble = _mm_set1_epi8(0x0f);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockQ2_K& b = wb[i];
    if constexpr (NX == 1) prefetch_next_row(wb, n / kSuperBlock, i);
    __m128i packed = load128(b.scales);  // per 16 values: scale | min << 4
    Scales16 sc(_mm_and_si128(packed, nibble));
    __m128i mn = _mm_and_si128(_mm_srli_epi16(packed, 4), nibble);
    SuperSums<NX> sums;
    for (int h = 0; h < 2; ++h) {
      __m256i qs = load256(b.qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        int c = 4 * h + k;
        __m256i q = _mm256_and_si256(_mm256_srl_epi16(qs, _mm_cvtsi32_si128(2 * k)), three);
        sums.add(x, stride, i, c, q, sc.chunk(c));
      }
    }
    finish_super(sums, x, stride, i, f16(b.d), acc);
    for (int j = 0; j < NX; ++j) {
      const BlockQ8_K& a = act<BlockQ8_K>(x, stride, j, i);
      extra[j] -= f16(b.dmin) * a.d * static_cast<float>(group_sum(mn, a));
    }
  }
  store_rows<NX>(acc, extra, out);
}

// Q3_K's 16 signed 6-bit scales from 12 bytes (words a, b: low nibbles; c: high 2 bits):
// groups 0-3 low nibbles of a, 4-7 of b, 8-11 high nibbles of a, 12-15 of b; the high
// bits of group 4t + k are bits 2t..2t+1 of byte k of c.
__m128i q3_k_scales(const uint8_t* p) {
  uint32_t a = load_u32(p), b = load_u32(p + 4), c = load_u32(p + 8);
  const uint32_t low = 0x0f0f0f0f, high = 0x30303030;
  __m128i s = _mm_setr_epi32(static_cast<int>((a & low) | ((c << 4) & high)),
                             static_cast<int>((b & low) | ((c << 2) & high)),
                             static_cast<int>(((a >> 4) & low) | (c & high)),
                             static_cast<int>(((b >> 4) & low) | ((c >> 2) & high)));
  return _mm_sub_epi8(s, _mm_set1_epi8(32));
}

// Q3_K: x = d * sc * (q - 4 * !hbit), q = 2 bits; scales signed 6-bit.
template <int NX>
void q3_k_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  const auto* wb = static_cast<const BlockQ3_K*>(w);
  __m256 acc[NX];
  float extra[NX] = {};
  for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
  const __m256i three = _mm256_set1_epi8(3);
  const __m256i one = _mm256_set1_epi8(1);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockQ3_K& b = wb[i];
    if constexpr (NX == 1) prefetch_next_row(wb, n / kSuperBlock, i);
    __m128i scales = q3_k_scales(b.scales);
    Scales16 sc(scales);
    // u = q + 4 * hbit in 0..7, so x = d * sc * (u - 4).
    __m256i hm = load256(b.hmask);
    SuperSums<NX> sums;
    for (int h = 0; h < 2; ++h) {
      __m256i qs = load256(b.qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        int c = 4 * h + k;
        __m256i q = _mm256_and_si256(_mm256_srl_epi16(qs, _mm_cvtsi32_si128(2 * k)), three);
        __m256i hb = _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(c)), one);
        q = _mm256_or_si256(q, _mm256_slli_epi16(hb, 2));
        sums.add(x, stride, i, c, q, sc.chunk(c));
      }
    }
    float d = f16(b.d);
    finish_super(sums, x, stride, i, d, acc);
    for (int j = 0; j < NX; ++j) {
      const BlockQ8_K& a = act<BlockQ8_K>(x, stride, j, i);
      extra[j] -= 4.0f * d * a.d * static_cast<float>(group_sum(scales, a));
    }
  }
  store_rows<NX>(acc, extra, out);
}

// Q4_K/Q5_K's 8 (scale, min) pairs of 6 bits in 12 bytes (words a, b, c): scales 0-3 are
// the low 6 bits of a's bytes, mins 0-3 of b's; scales 4-7 are c's low nibbles with a's top
// 2 bits above them, mins 4-7 c's high nibbles with b's top bits. Returns 8 int16 scales
// and 8 int16 mins.
struct K4Scales {
  __m128i scales, mins;
};
K4Scales k4_scales(const uint8_t* p) {
  uint32_t a = load_u32(p), b = load_u32(p + 4), c = load_u32(p + 8);
  const uint32_t six = 0x3f3f3f3f, low = 0x0f0f0f0f, top = 0x30303030;
  uint64_t sc = (a & six) | uint64_t{(c & low) | ((a >> 2) & top)} << 32;
  uint64_t mn = (b & six) | uint64_t{((c >> 4) & low) | ((b >> 2) & top)} << 32;
  return {_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(sc))),
          _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(mn)))};
}

// A K-quant's super-block as kernels see it: Super::sums adds q * x * sub-scale of block b
// against NX activation rows (super-block i of each) to sums and sets offset[j] to 4 int32
// whose total, times min_scale(b) * x.d, is the offset/minimum term; the whole term per
// activation row j is d(b) * x_j.d * sums.v[j] + min_scale(b) * x_j.d * total(offset[j]).
//
// Q4_K (kHigh = false) and Q5_K (true): x = d * sc * q - dmin * m per 32 values.
template <typename Block, bool kHigh>
struct Q45K {
  using BlockType = Block;
  static float d(const Block& b) { return f16(b.d); }
  static float min_scale(const Block& b) { return -f16(b.dmin); }
  template <int NX>
  static void sums(const Block& b, const void* x, size_t stride, int64_t i, SuperSums<NX>& sums,
                   __m128i* offset) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i one = _mm256_set1_epi8(1);
    K4Scales k4 = k4_scales(b.scales);
    Scales32 sc(k4.scales);
    for (int c2 = 0; c2 < 4; ++c2) {  // 64 values: low nibbles, then high nibbles
      __m256i qs = load256(b.qs + 32 * c2);
      __m256i q_lo = _mm256_and_si256(qs, low);
      __m256i q_hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), low);
      if constexpr (kHigh) {
        __m256i qh = load256(b.qh);
        __m256i h_lo = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c2)), one);
        __m256i h_hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c2 + 1)), one);
        q_lo = _mm256_or_si256(q_lo, _mm256_slli_epi16(h_lo, 4));
        q_hi = _mm256_or_si256(q_hi, _mm256_slli_epi16(h_hi, 4));
      }
      sums.add(x, stride, i, 2 * c2, q_lo, sc.chunk(2 * c2));
      sums.add(x, stride, i, 2 * c2 + 1, q_hi, sc.chunk(2 * c2 + 1));
    }
    for (int j = 0; j < NX; ++j) {
      const BlockQ8_K& a = act<BlockQ8_K>(x, stride, j, i);
      __m128i pairs = _mm_hadd_epi16(load128(a.bsums), load128(a.bsums + 8));  // |sum| <= 4064
      offset[j] = _mm_madd_epi16(k4.mins, pairs);
    }
  }
};

using Q4K = Q45K<BlockQ4_K, false>;
using Q5K = Q45K<BlockQ5_K, true>;

// Q6_K: x = d * sc * (q - 32) per 16 values, q = 4 low bits (ql) + 2 high bits (qh).
struct Q6K {
  using BlockType = BlockQ6_K;
  static float d(const BlockQ6_K& b) { return f16(b.d); }
  static float min_scale(const BlockQ6_K& b) { return -32.0f * f16(b.d); }
  template <int NX>
  static void sums(const BlockQ6_K& b, const void* x, size_t stride, int64_t i,
                   SuperSums<NX>& sums, __m128i* offset) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    __m128i scales = load128(b.scales);
    Scales16 sc(scales);
    for (int h = 0; h < 2; ++h) {
      __m256i ql0 = load256(b.ql + 64 * h);
      __m256i ql1 = load256(b.ql + 64 * h + 32);
      __m256i qh = load256(b.qh + 32 * h);
      __m256i lows[4] = {_mm256_and_si256(ql0, low), _mm256_and_si256(ql1, low),
                         _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low),
                         _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low)};
      // Bits 2k..2k+1 of each qh byte moved to bits 4-5 (16-bit shifts: bits crossing
      // into the neighbouring byte fall outside the mask).
      __m256i highs[4] = {_mm256_slli_epi16(qh, 4), _mm256_slli_epi16(qh, 2), qh,
                          _mm256_srli_epi16(qh, 2)};
      for (int k = 0; k < 4; ++k) {
        int c = 4 * h + k;
        __m256i q = _mm256_or_si256(lows[k], _mm256_and_si256(highs[k], bits45));
        sums.add(x, stride, i, c, q, sc.chunk(c));
      }
    }
    __m256i scales16 = _mm256_cvtepi8_epi16(scales);
    for (int j = 0; j < NX; ++j) {
      __m256i g = _mm256_madd_epi16(scales16, load256(act<BlockQ8_K>(x, stride, j, i).bsums));
      offset[j] = _mm_add_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
    }
  }
};

// One weight row of a K-quant against NX activation rows (DotFn).
template <typename K, int NX>
void k_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  const auto* wb = static_cast<const typename K::BlockType*>(w);
  __m256 acc[NX];
  float extra[NX] = {};
  for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    SuperSums<NX> sums;
    __m128i offset[NX];
    K::sums(wb[i], x, stride, i, sums, offset);
    finish_super(sums, x, stride, i, K::d(wb[i]), acc);
    for (int j = 0; j < NX; ++j) {
      extra[j] += K::min_scale(wb[i]) * act<BlockQ8_K>(x, stride, j, i).d *
                  static_cast<float>(hsum_i32(offset[j]));
    }
  }
  store_rows<NX>(acc, extra, out);
}

// R <= 4 weight rows (w_stride bytes apart) of a K-quant against one activation row (decode):
// y[r] = w_r . x. Per super-block the rows' integer sums are folded into one vector (hadd)
// and scaled once, and the offset terms likewise. Rows past R repeat row R - 1.
template <typename K>
void k_decode4(int64_t n, const void* w, size_t w_stride, int R, const void* x, float* y) {
  using Block = typename K::BlockType;
  const Block* wb[4];
  for (int r = 0; r < 4; ++r) {
    wb[r] = reinterpret_cast<const Block*>(offset_bytes(w, std::min(r, R - 1), w_stride));
  }
  const uint8_t* next = offset_bytes(w, 4, w_stride);  // the next pass's rows, contiguous
  const auto* xb = static_cast<const BlockQ8_K*>(x);
  __m256 acc = _mm256_setzero_ps();  // lanes [r0..r3 | r0..r3]
  __m128 offset_acc = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    prefetch<4 * sizeof(Block)>(next + 4 * i * sizeof(Block));
    __m256i v[4];
    __m128i offset[4];
#pragma GCC unroll 1  // row after row: four rows' chunks interleaved spill to the stack
    for (int r = 0; r < 4; ++r) {
      SuperSums<1> sums;
      K::sums(wb[r][i], x, 0, i, sums, &offset[r]);
      v[r] = sums.v[0];
    }
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    __m128i o = _mm_hadd_epi32(_mm_hadd_epi32(offset[0], offset[1]),
                               _mm_hadd_epi32(offset[2], offset[3]));
    __m128 dx = _mm_set1_ps(xb[i].d);
    __m128 d = _mm_mul_ps(_mm_setr_ps(K::d(wb[0][i]), K::d(wb[1][i]), K::d(wb[2][i]),
                                      K::d(wb[3][i])),
                          dx);
    __m128 m = _mm_mul_ps(_mm_setr_ps(K::min_scale(wb[0][i]), K::min_scale(wb[1][i]),
                                      K::min_scale(wb[2][i]), K::min_scale(wb[3][i])),
                          dx);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set_m128(d, d), acc);
    offset_acc = _mm_fmadd_ps(_mm_cvtepi32_ps(o), m, offset_acc);
  }
  __m128 total = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)),
                            offset_acc);
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, total);
  for (int r = 0; r < R; ++r) y[r] = lanes[r];
}

// IQ4_XS: x = d * (ls - 32) * kIq4nlValues[nibble] per 32 values.
template <int NX>
void iq4_xs_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  const auto* wb = static_cast<const BlockIQ4_XS*>(w);
  __m256 acc[NX];
  float extra[NX] = {};
  for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
  const __m256i table =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockIQ4_XS& b = wb[i];
    if constexpr (NX == 1) prefetch_next_row(wb, n / kSuperBlock, i);
    SuperSums<NX> sums;
    for (int c = 0; c < 8; ++c) {
      int ls = ((b.scales_l[c / 2] >> (4 * (c % 2))) & 0x0f) | (((b.scales_h >> (2 * c)) & 3) << 4);
      __m256i q = _mm256_shuffle_epi8(table, nibbles_32(b.qs + 16 * c));
      // Signed values: move q's sign onto x so maddubs sees |q| (unsigned).
      __m256i scales16 = _mm256_set1_epi16(static_cast<int16_t>(ls - 32));
      for (int j = 0; j < NX; ++j) {
        __m256i xq = load256(act<BlockQ8_K>(x, stride, j, i).qs + 32 * c);
        __m256i p = scaled_dot(_mm256_sign_epi8(q, q), _mm256_sign_epi8(xq, q), scales16);
        sums.v[j] = _mm256_add_epi32(sums.v[j], p);
      }
    }
    finish_super(sums, x, stride, i, f16(b.d), acc);
  }
  store_rows<NX>(acc, extra, out);
}

// ---- float weights against float activations ----

struct F32 {
  static __m256 load8(const void* w, int64_t i) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  }
  static float at(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
};
struct F16 {
  static __m256 load8(const void* w, int64_t i) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  }
  static float at(const void* w, int64_t i) { return f16(static_cast<const uint16_t*>(w)[i]); }
};
struct BF16 {
  static __m256 load8(const void* w, int64_t i) {
    __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float at(const void* w, int64_t i) {
    uint32_t bits = uint32_t{static_cast<const uint16_t*>(w)[i]} << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

template <typename W, int NX>
void float_rows(int64_t n, const void* w, const void* x, size_t stride, float* out) {
  __m256 acc[NX][2];
  for (int j = 0; j < NX; ++j) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
  auto xrow = [&](int j) {
    return reinterpret_cast<const float*>(static_cast<const uint8_t*>(x) + stride * j);
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 w0 = W::load8(w, i);
    __m256 w1 = W::load8(w, i + 8);
    for (int j = 0; j < NX; ++j) {
      acc[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xrow(j) + i), acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xrow(j) + i + 8), acc[j][1]);
    }
  }
  for (int j = 0; j < NX; ++j) {
    float sum = hsum(_mm256_add_ps(acc[j][0], acc[j][1]));
    for (int64_t t = i; t < n; ++t) sum += W::at(w, t) * xrow(j)[t];
    out[j] = sum;
  }
}

// ---- activation quantizers ----

// Largest |x| over 8-float vectors.
float max_abs(const float* in, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8)
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(in + i)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

// 32 floats * inv_scale rounded to nearest (ties to even) into 32 int8 at out; returns the
// sum of the quants as 8 int32 lanes of 16-bit pair sums.
__m256i round_32(const float* in, float inv_scale, int8_t* out) {
  __m256 s = _mm256_set1_ps(inv_scale);
  __m256i q[4];
  for (int k = 0; k < 4; ++k)
    q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(in + 8 * k), s));
  // packs interleave 128-bit lanes; the permute restores value order.
  __m256i q16a = _mm256_packs_epi32(q[0], q[1]);
  __m256i q16b = _mm256_packs_epi32(q[2], q[3]);
  __m256i q8 = _mm256_packs_epi16(q16a, q16b);
  q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), q8);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q8), _mm256_set1_epi16(1));
}

template <typename Block>
void quantize_q8_32(const float* in, void* blocks, int64_t n) {
  auto* b = static_cast<Block*>(blocks);
  for (int64_t i = 0; i < n / kBlock32; ++i, in += kBlock32) {
    float d = max_abs(in, kBlock32) / 127.0f;
    int sum = hsum_i32(round_32(in, d > 0 ? 1.0f / d : 0.0f, b[i].qs));
    b[i].d = _cvtss_sh(d, 0);
    if constexpr (sizeof(Block) == sizeof(BlockQ8_1)) {
      b[i].s = _cvtss_sh(d * static_cast<float>(sum), 0);
    }
  }
}

// Calls tile.template operator()<G>(start) over [0, count) in groups of G = kGroup, then
// once with the remainder (kGroup <= 4): the group size is a template argument so the
// kernels keep their accumulators in registers.
template <int kGroup, typename Tile>
void in_groups(int64_t count, const Tile& tile) {
  static_assert(kGroup <= 4);
  int64_t start = 0;
  for (; start + kGroup <= count; start += kGroup) tile.template operator()<kGroup>(start);
  switch (count - start) {
    case 3:
      if constexpr (kGroup > 3) tile.template operator()<3>(start);
      break;
    case 2:
      if constexpr (kGroup > 2) tile.template operator()<2>(start);
      break;
    case 1:
      if constexpr (kGroup > 1) tile.template operator()<1>(start);
      break;
    default:
      break;
  }
}

// DotFn of a kernel Rows<NX>::run(n, w, x, x_stride, out) over NX activation rows.
template <template <int> typename Rows>
void by_rows(int64_t n, const void* w, const void* x, size_t stride, int n_x, float* out) {
  in_groups<kMaxRows>(n_x, [&]<int NX>(int64_t t) {
    Rows<NX>::run(n, w, offset_bytes(x, t, stride), stride, out + t);
  });
}

// DotRowsFn of a one-weight-row kernel: row after row.
template <template <int> typename Rows>
void rows_singly(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x, float* y) {
  for (int64_t r = 0; r < n_w; ++r) Rows<1>::run(n, offset_bytes(w, r, w_stride), x, 0, y + r);
}

// The legacy tile as DotFn (1 weight row), Dot2Fn (2 rows) and DotRowsFn (4 rows, 1 token).
template <typename W>
struct Legacy {
  template <int NX>
  struct Rows {
    static void run(int64_t n, const void* w, const void* x, size_t s, float* out) {
      legacy_tile<W, 1, NX>(n, w, 0, x, s, out, 1);
    }
  };
  static void pairs(int64_t n, const void* w, size_t w_stride, const void* x, size_t stride,
                    int n_x, float* y, int64_t y_stride) {
    in_groups<kMaxRows>(n_x, [&]<int NX>(int64_t t) {
      legacy_tile<W, 2, NX>(n, w, w_stride, offset_bytes(x, t, stride), stride, y + t * y_stride,
                            y_stride);
    });
  }
  static void rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,
                   float* y) {
    thread_local std::vector<ActPair> pairs;
    act_pairs<W>(static_cast<const typename W::Act*>(x), n / kBlock32, pairs);
    for (int64_t r = 0; r < n_w; r += 4) {
      int rows_here = static_cast<int>(std::min<int64_t>(4, n_w - r));
      legacy_decode4<W>(n / kBlock32, offset_bytes(w, r, w_stride), w_stride, rows_here,
                        pairs.data(), y + r);
    }
  }
};
template <typename W>
struct Float {
  template <int NX>
  struct Rows {
    static void run(int64_t n, const void* w, const void* x, size_t s, float* out) {
      float_rows<W, NX>(n, w, x, s, out);
    }
  };
};
// A K-quant with a super-block view (Q45K, Q6K) as DotFn (k_rows) and DotRowsFn (k_decode4).
template <typename K>
struct KQuant {
  template <int NX>
  struct Rows {
    static void run(int64_t n, const void* w, const void* x, size_t s, float* out) {
      k_rows<K, NX>(n, w, x, s, out);
    }
  };
  static void rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,
                   float* y) {
    for (int64_t r = 0; r < n_w; r += 4) {
      int rows_here = static_cast<int>(std::min<int64_t>(4, n_w - r));
      k_decode4<K>(n, offset_bytes(w, r, w_stride), w_stride, rows_here, x, y + r);
    }
  }
};
#define TERN_ROWS(name, fn)                                                          \
  template <int NX>                                                                  \
  struct name {                                                                      \
    static void run(int64_t n, const void* w, const void* x, size_t s, float* out) { \
      fn(n, w, x, s, out);                                                           \
    }                                                                                \
  };
TERN_ROWS(Q2K, q2_k_rows<NX>)
TERN_ROWS(Q3K, q3_k_rows<NX>)
TERN_ROWS(IQ4XS, iq4_xs_rows<NX>)
#undef TERN_ROWS

}  // namespace

#define TERN_DOT(type, rows)                                                                       \
  void dot_##type(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    by_rows<rows>(n, w, x, x_stride, n_x, out);                                                    \
  }                                                                                                \
  void dot_##type##_rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,    \
                         float* y) {                                                               \
    rows_singly<rows>(n, w, w_stride, n_w, x, y);                                                  \
  }
TERN_DOT(f32, Float<F32>::Rows)
TERN_DOT(f16, Float<F16>::Rows)
TERN_DOT(bf16, Float<BF16>::Rows)
TERN_DOT(q2_k, Q2K)
TERN_DOT(q3_k, Q3K)
TERN_DOT(iq4_xs, IQ4XS)
#undef TERN_DOT

#define TERN_KQUANT(type, K)                                                                       \
  void dot_##type(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    by_rows<KQuant<K>::template Rows>(n, w, x, x_stride, n_x, out);                                \
  }                                                                                                \
  void dot_##type##_rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,    \
                         float* y) {                                                               \
    KQuant<K>::rows(n, w, w_stride, n_w, x, y);                                                    \
  }
TERN_KQUANT(q4_k, Q4K)
TERN_KQUANT(q5_k, Q5K)
TERN_KQUANT(q6_k, Q6K)
#undef TERN_KQUANT

#define TERN_LEGACY(type, W)                                                                       \
  void dot_##type(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    by_rows<Legacy<W>::template Rows>(n, w, x, x_stride, n_x, out);                                \
  }                                                                                                \
  void dot_##type##_rows(int64_t n, const void* w, size_t w_stride, int64_t n_w, const void* x,    \
                         float* y) {                                                               \
    Legacy<W>::rows(n, w, w_stride, n_w, x, y);                                                    \
  }                                                                                                \
  void dot2_##type(int64_t n, const void* w, size_t w_stride, const void* x, size_t x_stride,      \
                   int n_x, float* y, int64_t y_stride) {                                          \
    Legacy<W>::pairs(n, w, w_stride, x, x_stride, n_x, y, y_stride);                               \
  }
TERN_LEGACY(q4_0, Q4_0)
TERN_LEGACY(q4_1, Q4_1)
TERN_LEGACY(q5_0, Q5_0)
TERN_LEGACY(q5_1, Q5_1)
TERN_LEGACY(q8_0, Q8_0)
TERN_LEGACY(iq4_nl, IQ4_NL)
#undef TERN_LEGACY

void quantize_q8_0(const float* in, void* blocks, int64_t n) {
  quantize_q8_32<BlockQ8_0>(in, blocks, n);
}

void quantize_q8_1(const float* in, void* blocks, int64_t n) {
  quantize_q8_32<BlockQ8_1>(in, blocks, n);
}

// Q8_K: d = max|x| / 127 per 256 values, plus the sum of each 16 quants.
void quantize_q8_k(const float* in, void* blocks, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(blocks);
  for (int64_t i = 0; i < n / kSuperBlock; ++i, in += kSuperBlock) {
    float d = max_abs(in, kSuperBlock) / 127.0f;
    float inv = d > 0 ? 1.0f / d : 0.0f;
    for (int c = 0; c < 8; ++c) {
      __m256i pairs = round_32(in + 32 * c, inv, b[i].qs + 32 * c);
      // pairs lanes: 4 values each, in order; 4 lanes = 16 values.
      __m128i h = _mm_hadd_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
      h = _mm_hadd_epi32(h, h);
      b[i].bsums[2 * c] = static_cast<int16_t>(_mm_extract_epi32(h, 0));
      b[i].bsums[2 * c + 1] = static_cast<int16_t>(_mm_extract_epi32(h, 1));
    }
    b[i].d = d;
  }
}

}  // namespace tern::TERN_SIMD_NAMESPACE
