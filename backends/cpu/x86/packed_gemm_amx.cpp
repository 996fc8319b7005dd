// AMX-INT8 packed GEMM (backends/cpu/packed_gemm_kernels.h) over 32-row tiles: tile
// instructions multiply two 16-row halves of the weight tile by two chunks of 16 tokens at
// once (four tiles of int32 sums, each 16 tokens x 16 rows). A tile block (8 steps of 32 rows
// x 4 values) gives each half's B operand directly (K/4 rows of 16 columns x 4 bytes, 128
// bytes apart) and a chunk's block (16 tokens x 32 quants, one after another) the A operand.
// The legacy types and Q8_0 have scales per block on both sides, so every product (K = 32)
// is stored and AVX512 scales its sums into float accumulators: a conversion, a multiply and
// an FMA per 16 sums (one more FMA for minimums). The K-quants sum whole super-blocks in the
// tiles instead (below, "K-quants"), two blocks (K = 64) per product where the activations
// come by pairs of blocks (PackedActs::pairs).
//
// What bounds it, measured on an Intel Xeon VM with AMX (2026-12-07; docs/benchmarks.md): a
// tdpbssd holds the tile unit ~16 cycles whatever its K (so K = 32 uses half of it), a
// tilestored 7-16, and the tile work and the vector scaling hardly overlap: their times add.
// Four tile loads and four products take 23-26 ns from L1 or L2 on cache-line-aligned
// buffers; with every 64-byte row straddling two lines (16-byte aligned buffers) they took 42.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "backends/cpu/aligned_vector.h"
#include "backends/cpu/packed_gemm_kernels.h"

namespace tern::amx {

namespace {

using cpu::kChunkTokens;
using cpu::kPackBlock;
using cpu::kStepValues;
using cpu::kTileTokens;

constexpr int kHalfRows = 16;         // weight rows per B operand (the sums' columns)
constexpr int kRows = 2 * kHalfRows;  // the tile: 32 rows
static_assert(kChunkTokens == 16);
constexpr int kBlockBytes = kRows * kPackBlock;  // 1024: one block of the weight tile
constexpr int kStepBytes = kRows * kStepValues;  // 128: one step of the weight tile
constexpr int kGroupsPerChunk = kChunkTokens / kTileTokens;

// ldtilecfg's 64-byte operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

// tmm0-3: int32 sums (2 chunks x 2 halves of the rows, or x the high and low parts of one
// half's sub-scaled weights); tmm4/5: the chunks' activations; tmm6/7: weights. K = `values`
// per product: 32 (a block) or 64 (two blocks of a K-quant super-block).
void configure_tiles(int values) {
  TileConfig c;
  for (int t = 0; t < 4; ++t) {
    c.colsb[t] = kHalfRows * 4;
    c.rows[t] = kChunkTokens;
  }
  for (int t = 4; t < 6; ++t) {
    c.colsb[t] = static_cast<uint16_t>(values);
    c.rows[t] = kChunkTokens;
  }
  for (int t = 6; t < 8; ++t) {
    c.colsb[t] = kHalfRows * kStepValues;
    c.rows[t] = static_cast<uint8_t>(values / kStepValues);
  }
  // Not _tile_loadconfig: GCC 12's declares only the pointer's first 8 bytes as read, so the
  // stores of the rest could be dropped (a test program of ours then faulted on tileloadd).
  asm volatile("ldtilecfg %0" : : "m"(c));
}

// Sums of one unit of work: [chunk][half][token][row of the half].
using UnitSums = int32_t[2][2][kChunkTokens][kHalfRows];

// A K-quant tile's weights split in high and low bytes (split_sub_scaled, below).
struct SubScaledTile {
  const int8_t* high;
  const int8_t* low;
  const float* scale;  // [super-block][row]: the rows' super-block scales
};

// GCC's tile intrinsics paste their register operands into the asm text: they take literal
// numbers. The sums of chunks c0 (and c0 + 1 when kChunks is 2) are tmm0/1 (and tmm2/3).
template <int kChunks>
inline void zero_sums() {
  _tile_zero(0);
  _tile_zero(1);
  if constexpr (kChunks == 2) {
    _tile_zero(2);
    _tile_zero(3);
  }
}

template <int kChunks>
inline void store_sums(UnitSums& s) {
  constexpr int kStride = kHalfRows * 4;
  _tile_stored(0, s[0][0], kStride);
  _tile_stored(1, s[0][1], kStride);
  if constexpr (kChunks == 2) {
    _tile_stored(2, s[1][0], kStride);
    _tile_stored(3, s[1][1], kStride);
  }
}

// The products of block b of chunks c0 (and c0 + 1) into s.
template <bool kSigned, int kChunks>
inline void issue(const cpu::PackedTile& w, const cpu::PackedActs& x, int64_t c0, int64_t b,
                  UnitSums& s) {
  const int8_t* q = w.q + b * kBlockBytes;
  _tile_loadd(6, q, kStepBytes);
  _tile_loadd(7, q + kHalfRows * kStepValues, kStepBytes);
  _tile_loadd(4, x.quants<kChunkTokens>(c0 * kGroupsPerChunk, b), kPackBlock);
  if constexpr (kChunks == 2) {
    _tile_loadd(5, x.quants<kChunkTokens>((c0 + 1) * kGroupsPerChunk, b), kPackBlock);
  }
  zero_sums<kChunks>();
  if constexpr (kSigned) {
    _tile_dpbssd(0, 4, 6);
    _tile_dpbssd(1, 4, 7);
    if constexpr (kChunks == 2) {
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
  } else {
    _tile_dpbsud(0, 4, 6);
    _tile_dpbsud(1, 4, 7);
    if constexpr (kChunks == 2) {
      _tile_dpbsud(2, 5, 6);
      _tile_dpbsud(3, 5, 7);
    }
  }
  store_sums<kChunks>(s);
}

inline __m512 to_float(const int32_t* v) {
  return _mm512_maskz_cvtepi32_ps(0xffff, _mm512_load_si512(v));
}

// Units per slice: a slice's products are all stored before any is scaled. 4 measured 5-10%
// faster than 1 or 2; 8 slower (its 64 KiB of sums leave L1).
constexpr int kSliceUnits = 4;

// Chunks c0 (and c0 + 1) x the tile: acc[k][t][r] += row r . token t of chunk c0 + k. The
// units go in slices: the products of slice s + 1 are issued before the sums of slice s are
// scaled (vector loads cannot take a tile store's data until it has reached the cache). Each
// (chunk, half) is scaled over a whole slice in 16 registers, loaded from and stored to acc
// once per slice: scaled block by block straight into acc in memory, the scaling took about
// 4.5 cycles a vector instead of 2.8.
template <bool kSigned, bool kMin, int kChunks>
void chunks_kernel(const cpu::PackedTile& w, const SubScaledTile&, const cpu::PackedActs& x,
                   int64_t c0, float (*acc)[kChunkTokens][kRows]) {
  alignas(64) UnitSums sums[2][kSliceUnits];
  const int64_t n_units = w.n_blocks;
  const int64_t n_slices = (n_units + kSliceUnits - 1) / kSliceUnits;
  for (int64_t slice = 0; slice <= n_slices; ++slice) {
    if (slice < n_slices) {
      const int64_t first = slice * kSliceUnits;
      for (int64_t u = first; u < std::min(n_units, first + kSliceUnits); ++u) {
        issue<kSigned, kChunks>(w, x, c0, u, sums[slice % 2][u - first]);
      }
    }
    if (slice == 0) continue;
    const int64_t first = (slice - 1) * kSliceUnits;  // the slice to scale
    const int64_t slice_units = std::min<int64_t>(kSliceUnits, n_units - first);
    const UnitSums* slice_sums = sums[(slice - 1) % 2];
    for (int k = 0; k < kChunks; ++k) {
      for (int j = 0; j < 2; ++j) {
        __m512 r[kChunkTokens];
#pragma GCC unroll 16
        for (int t = 0; t < kChunkTokens; ++t) r[t] = _mm512_load_ps(acc[k][t] + kHalfRows * j);
        for (int64_t n = 0; n < slice_units; ++n) {
          const int64_t b = first + n;
          const __m512 f = _mm512_loadu_ps(w.d + b * kRows + kHalfRows * j);
          const __m512 min =
              kMin ? _mm512_loadu_ps(w.min + b * kRows + kHalfRows * j) : _mm512_setzero_ps();
          const int64_t i = x.at<kChunkTokens>((c0 + k) * kGroupsPerChunk, b);
          const float* xd = x.d + i;
          const float* xs = x.s + i;
          const auto& s = slice_sums[n][k][j];
#pragma GCC unroll 16
          for (int t = 0; t < kChunkTokens; ++t) {
            r[t] = _mm512_fmadd_ps(_mm512_mul_ps(to_float(s[t]), f), _mm512_set1_ps(xd[t]), r[t]);
            if constexpr (kMin) r[t] = _mm512_fmadd_ps(min, _mm512_set1_ps(xs[t]), r[t]);
          }
        }
#pragma GCC unroll 16
        for (int t = 0; t < kChunkTokens; ++t) _mm512_store_ps(acc[k][t] + kHalfRows * j, r[t]);
      }
    }
  }
}

constexpr int kSuperBlocks = 8;  // blocks per super-block

// ---- K-quants: products over whole super-blocks ----
// Their rows have one scale d per super-block (256 values) and an integer scale s per 16
// (Q6_K, Q3_K: the sub-scales) or per 32 values (Q4_K, Q5_K: a block's d is d times s; their
// minimums stay per block); the activations (Q8_K) one scale per super-block. So q * s is an
// integer weight, and the products of a super-block's 8 blocks add up in the tiles: one store
// and one scaling per super-block instead of one per 16 or 32 values. q * s takes up to 13
// bits (|q * s| <= 4096): it is split into a high part (q * s >> 6, signed) and an unsigned
// low one (q * s & 63), each in the tile's byte layout, and the sums join as
// 64 * high + low (each at most 256 * 64 * 127).

// q * s of every weight of w, split, into thread-local buffers (valid until the next call),
// and the rows' super-block scales: d itself with sub-scales, d / s (exact: d is the fp16
// scale times s) with scales_in_sub.
SubScaledTile split_sub_scaled(const cpu::PackedTile& w, bool scales_in_sub) {
  thread_local cpu::AlignedVector<int8_t> high, low;
  thread_local cpu::AlignedVector<float> scale;
  const auto bytes = static_cast<size_t>(w.n_blocks * kBlockBytes);
  high.resize(bytes);
  low.resize(bytes);
  scale.assign(static_cast<size_t>(w.n_blocks / kSuperBlocks * kRows), 0.0f);
  for (int64_t b = 0; b < w.n_blocks; ++b) {
    float* rows = scale.data() + b / kSuperBlocks * kRows;
    for (int r = 0; r < kRows; ++r) {
      const float d = w.d[b * kRows + r];
      const int16_t s = w.sub[(2 * b * kRows + r) * 2];
      if (!scales_in_sub) {
        rows[r] = d;
      } else if (s != 0 && rows[r] == 0.0f) {
        rows[r] = d / static_cast<float>(s);
      }
    }
  }
  // Lane l of a 32-lane int16 vector holds value l % 4 of row l / 4 of 8 rows; the tile's
  // sub-scales are int16 pairs (f, f) per row, so lane l takes pair element 2 (l / 4) (+ 16
  // for the next 8 rows).
  alignas(64) int16_t first_rows[32], next_rows[32];
  for (int l = 0; l < 32; ++l) {
    first_rows[l] = static_cast<int16_t>(2 * (l / 4));
    next_rows[l] = static_cast<int16_t>(16 + 2 * (l / 4));
  }
  const __m512i pick_first = _mm512_load_si512(first_rows),
                pick_next = _mm512_load_si512(next_rows);
  const __m512i low_bits = _mm512_set1_epi16(63);
  for (int64_t b = 0; b < w.n_blocks; ++b) {
    for (int step = 0; step < kPackBlock / kStepValues; ++step) {
      const int half = step / 4;                              // the 16 values of one sub-scale
      for (int part = 0; part < kRows / kHalfRows; ++part) {  // rows 0-15, 16-31
        const auto offset = static_cast<size_t>(b * kBlockBytes + step * kStepBytes + part * 64);
        const __m512i pairs =
            _mm512_loadu_si512(w.sub + ((2 * b + half) * kRows + part * kHalfRows) * 2);
        for (int eight = 0; eight < 2; ++eight) {  // 8 rows x 4 values: 32 bytes
          const size_t at = offset + 32 * static_cast<size_t>(eight);
          __m512i q =
              _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.q + at)));
          __m512i v = _mm512_mullo_epi16(
              q, _mm512_permutexvar_epi16(eight ? pick_next : pick_first, pairs));
          // Zero-masked forms: GCC 12's plain ones warn of their undefined pass-through.
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(high.data() + at),
                              _mm512_maskz_cvtepi16_epi8(~0u, _mm512_maskz_srai_epi16(~0u, v, 6)));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(low.data() + at),
                              _mm512_maskz_cvtepi16_epi8(~0u, _mm512_and_si512(v, low_bits)));
        }
      }
    }
  }
  return {high.data(), low.data(), scale.data()};
}

// Unit u (super-block u / 2, half u % 2 of the tile's rows) of chunks c0 (and c0 + 1):
// s[k][0] the high parts' sums, s[k][1] the low parts'. kPairs: K = 64, blocks b and b + 1
// at once (a tile's steps run on from block to block, and with PackedActs::pairs a token's
// quants of the two are one row of its chunk): half the loads and products of K = 32.
template <int kChunks, bool kPairs>
inline void issue_super_block(const SubScaledTile& w, const cpu::PackedActs& x, int64_t c0,
                              int64_t u, UnitSums& s) {
  constexpr int kBlocks = kPairs ? 2 : 1;
  constexpr int kActStride = kBlocks * kPackBlock;
  const int64_t b0 = (u / 2) * kSuperBlocks;
  const int half = static_cast<int>(u % 2) * kHalfRows * kStepValues;
  zero_sums<kChunks>();
  for (int64_t b = b0; b < b0 + kSuperBlocks; b += kBlocks) {
    _tile_loadd(6, w.high + b * kBlockBytes + half, kStepBytes);
    _tile_loadd(7, w.low + b * kBlockBytes + half, kStepBytes);
    _tile_loadd(4, x.quants<kChunkTokens>(c0 * kGroupsPerChunk, b), kActStride);
    _tile_dpbssd(0, 4, 6);
    _tile_dpbsud(1, 4, 7);
    if constexpr (kChunks == 2) {
      _tile_loadd(5, x.quants<kChunkTokens>((c0 + 1) * kGroupsPerChunk, b), kActStride);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbsud(3, 5, 7);
    }
  }
  store_sums<kChunks>(s);
}

// As chunks_kernel for K-quant tiles, a unit of products being a super-block of one half of
// the rows; each unit's sums are scaled one unit after they are stored, and the minimums
// (kMin: Q4_K, Q5_K) added block by block.
template <bool kMin, int kChunks, bool kPairs>
void super_block_kernel(const cpu::PackedTile& w, const SubScaledTile& split,
                        const cpu::PackedActs& x, int64_t c0, float (*acc)[kChunkTokens][kRows]) {
  alignas(64) UnitSums sums[2];
  const int64_t n_units = 2 * (w.n_blocks / kSuperBlocks);
  const __m512 sixty_four = _mm512_set1_ps(64.0f);
  for (int64_t u = 0; u <= n_units; ++u) {
    if (u < n_units) issue_super_block<kChunks, kPairs>(split, x, c0, u, sums[u % 2]);
    if (u == 0) continue;
    const int64_t v = u - 1;  // the unit to scale
    const int64_t b0 = (v / 2) * kSuperBlocks;
    const int j = static_cast<int>(v % 2);
    const __m512 d = _mm512_loadu_ps(split.scale + (v / 2) * kRows + kHalfRows * j);
    for (int k = 0; k < kChunks; ++k) {
      const float* xd = x.d + x.at<kChunkTokens>((c0 + k) * kGroupsPerChunk, b0);
      const auto& high = sums[v % 2][k][0];
      const auto& low = sums[v % 2][k][1];
      __m512 r[kChunkTokens];
#pragma GCC unroll 16
      for (int t = 0; t < kChunkTokens; ++t) {
        __m512 q = _mm512_fmadd_ps(to_float(high[t]), sixty_four, to_float(low[t]));
        r[t] = _mm512_fmadd_ps(_mm512_mul_ps(q, d), _mm512_set1_ps(xd[t]),
                               _mm512_load_ps(acc[k][t] + kHalfRows * j));
      }
      if constexpr (kMin) {
        for (int64_t b = b0; b < b0 + kSuperBlocks; ++b) {
          const __m512 min = _mm512_loadu_ps(w.min + b * kRows + kHalfRows * j);
          const float* xs = x.s + x.at<kChunkTokens>((c0 + k) * kGroupsPerChunk, b);
#pragma GCC unroll 16
          for (int t = 0; t < kChunkTokens; ++t)
            r[t] = _mm512_fmadd_ps(min, _mm512_set1_ps(xs[t]), r[t]);
        }
      }
#pragma GCC unroll 16
      for (int t = 0; t < kChunkTokens; ++t) _mm512_store_ps(acc[k][t] + kHalfRows * j, r[t]);
    }
  }
}

// A shape's kernels for one and for two chunks (the split tile is read by the K-quants').
using ChunksFn = void (*)(const cpu::PackedTile&, const SubScaledTile&, const cpu::PackedActs&,
                          int64_t, float (*)[kChunkTokens][kRows]);

struct Kernels {
  ChunksFn one, two;
};

template <bool kPairs>
Kernels super_block_kernels(bool has_min) {
  if (has_min) return {super_block_kernel<true, 1, kPairs>, super_block_kernel<true, 2, kPairs>};
  return {super_block_kernel<false, 1, kPairs>, super_block_kernel<false, 2, kPairs>};
}

// The shapes the packed formats use (backends/cpu/packed_gemm.cpp's table) with activations
// by blocks or (K-quants only) by pairs of blocks; others are a bug. K-quant tiles
// (sub-scales, or block scales in sub) go by super-blocks.
Kernels kernels_for(const cpu::TileShape& s, bool pairs) {
  if (s.carries_sub()) {
    return pairs ? super_block_kernels<true>(s.has_min) : super_block_kernels<false>(s.has_min);
  }
  if (pairs) return {};
  if (s.is_signed) {
    if (s.has_min) return {};
    return {chunks_kernel<true, false, 1>, chunks_kernel<true, false, 2>};
  }
  if (!s.has_min) return {};
  return {chunks_kernel<false, true, 1>, chunks_kernel<false, true, 2>};
}

}  // namespace

int packed_tile_rows() { return kRows; }

int packed_chunk_tokens() { return kChunkTokens; }

// Groups g .. g + n_groups - 1 (4 tokens each) lie in whole chunks of 16 tokens: each chunk
// (two at a time) is computed whole and only the asked-for real tokens' rows are written.
void packed_tile_gemm(const cpu::TileShape& shape, const cpu::PackedTile& w,
                      const cpu::PackedActs& x, int64_t g, int64_t n_groups, float* y,
                      int64_t y_stride) {
  const Kernels kernels = kernels_for(shape, x.pairs);
  SubScaledTile split{};
  if (shape.carries_sub()) split = split_sub_scaled(w, shape.scales_in_sub);
  configure_tiles(x.pairs ? 2 * kPackBlock : kPackBlock);
  const int64_t first = g * kTileTokens;  // tokens [first, end)
  const int64_t end = std::min((g + n_groups) * kTileTokens, x.n_tokens);
  alignas(64) float acc[2][kChunkTokens][kRows];
  for (int64_t c = first / kChunkTokens; c * kChunkTokens < end; c += 2) {
    const bool pair = (c + 1) * kChunkTokens < end;
    std::fill_n(&acc[0][0][0], sizeof acc / sizeof(float), 0.0f);
    (pair ? kernels.two : kernels.one)(w, split, x, c, acc);
    for (int k = 0; k < (pair ? 2 : 1); ++k) {
      for (int t = 0; t < kChunkTokens; ++t) {
        int64_t token = (c + k) * kChunkTokens + t;
        if (token < first || token >= end) continue;
        float* out = y + (token - first) * y_stride;
        _mm512_storeu_ps(out, _mm512_load_ps(acc[k][t]));
        _mm512_storeu_ps(out + kHalfRows, _mm512_load_ps(acc[k][t] + kHalfRows));
      }
    }
  }
  _tile_release();
}

}  // namespace tern::amx
