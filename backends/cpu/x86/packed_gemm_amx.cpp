// AMX-INT8 packed GEMM (backends/cpu/packed_gemm_kernels.h) over 32-row tiles: tile
// instructions multiply two 16-row halves of the weight tile by two chunks of 16 tokens at
// once (four tiles of int32 sums, each 16 tokens x 16 rows). A tile block (8 steps of 32 rows
// x 4 values) gives each half's B operand directly (K/4 rows of 16 columns x 4 bytes, 128
// bytes apart) and a chunk's block (16 tokens x 32 quants, one after another) the A operand.
// Each block has its own scales, so every product (K = 32) is stored and AVX512 scales its
// sums into float accumulators: a conversion, a multiply and an FMA per 16 sums (and one more
// FMA for the minimums).
//
// What bounds it, measured on an Intel Xeon VM with AMX (2026-12-07; docs/benchmarks.md): a
// tdpbssd holds the tile unit ~16 cycles whatever its K (so K = 32 uses half of it), a
// tilestored 7-16, and the tile work and the vector scaling hardly overlap: their times add,
// about half each.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

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

// tmm0-3: sums (chunk k, half j in tmm 2k + j); tmm4/5: the chunks' activations; tmm6/7: the
// halves' weights. K = `values` per product: 32 (a block) or 16 (a sub-scale's half of one).
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

// The products of unit u of chunks c0 (and c0 + 1 when kChunks is 2) into s. Without
// sub-scales a unit is a block (K = 32); with them (Q6_K, Q3_K) half a block (K = 16), so each
// product has one scale per row. GCC's tile intrinsics paste their register operands into
// the asm text: they take literal numbers.
template <bool kSigned, bool kSub, int kChunks>
inline void issue(const cpu::PackedTile& w, const cpu::PackedActs& x, int64_t c0, int64_t u,
                  UnitSums& s) {
  const int64_t b = kSub ? u / 2 : u;
  const int offset = kSub ? static_cast<int>(u % 2) * kPackBlock / 2 : 0;  // the half's first value
  const int8_t* q = w.q + b * kBlockBytes + offset / kStepValues * kStepBytes;
  _tile_loadd(6, q, kStepBytes);
  _tile_loadd(7, q + kHalfRows * kStepValues, kStepBytes);
  _tile_loadd(4, x.q + x.at(c0 * kGroupsPerChunk, b) * kPackBlock + offset, kPackBlock);
  if constexpr (kChunks == 2) {
    _tile_loadd(5, x.q + x.at((c0 + 1) * kGroupsPerChunk, b) * kPackBlock + offset, kPackBlock);
  }
  constexpr int kStride = kHalfRows * 4;
  // Every product before any store: a store waits for its product's result, and the tile
  // unit runs its instructions in order, so a store between products stalls the next one.
  _tile_zero(0);
  _tile_zero(1);
  if constexpr (kChunks == 2) {
    _tile_zero(2);
    _tile_zero(3);
  }
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
  _tile_stored(0, s[0][0], kStride);
  _tile_stored(1, s[0][1], kStride);
  if constexpr (kChunks == 2) {
    _tile_stored(2, s[1][0], kStride);
    _tile_stored(3, s[1][1], kStride);
  }
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
template <bool kSigned, bool kMin, bool kSub, int kChunks>
void chunks_kernel(const cpu::PackedTile& w, const cpu::PackedActs& x, int64_t c0, int64_t n_units,
                   float (*acc)[kChunkTokens][kRows]) {
  alignas(64) UnitSums sums[2][kSliceUnits];
  const int64_t n_slices = (n_units + kSliceUnits - 1) / kSliceUnits;
  for (int64_t slice = 0; slice <= n_slices; ++slice) {
    if (slice < n_slices) {
      const int64_t first = slice * kSliceUnits;
      for (int64_t u = first; u < std::min(n_units, first + kSliceUnits); ++u) {
        issue<kSigned, kSub, kChunks>(w, x, c0, u, sums[slice % 2][u - first]);
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
          const int64_t v = first + n;
          const int64_t b = kSub ? v / 2 : v;
          // The rows' factor: d, times the half's sub-scale (int16 pairs (f, f): the high half).
          __m512 f = _mm512_loadu_ps(w.d + b * kRows + kHalfRows * j);
          if constexpr (kSub) {
            __m512i pairs =
                _mm512_loadu_si512(w.sub + ((2 * b + v % 2) * kRows + kHalfRows * j) * 2);
            f = _mm512_mul_ps(
                f, _mm512_maskz_cvtepi32_ps(0xffff, _mm512_maskz_srai_epi32(0xffff, pairs, 16)));
          }
          const __m512 min =
              kMin ? _mm512_loadu_ps(w.min + b * kRows + kHalfRows * j) : _mm512_setzero_ps();
          const int64_t i = x.at((c0 + k) * kGroupsPerChunk, b);
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

using ChunksFn = void (*)(const cpu::PackedTile&, const cpu::PackedActs&, int64_t, int64_t,
                          float (*)[kChunkTokens][kRows]);

struct Kernels {
  ChunksFn one, two;  // one chunk, two chunks
};

template <bool kSigned, bool kMin, bool kSub>
constexpr Kernels kernels_of() {
  return {chunks_kernel<kSigned, kMin, kSub, 1>, chunks_kernel<kSigned, kMin, kSub, 2>};
}

// The shapes the packed formats use (backends/cpu/packed_gemm.cpp's table); others are a bug.
Kernels kernels_for(const cpu::TileShape& s) {
  if (s.has_sub) return s.is_signed && !s.has_min ? kernels_of<true, false, true>() : Kernels{};
  if (s.is_signed) return s.has_min ? Kernels{} : kernels_of<true, false, false>();
  return s.has_min ? kernels_of<false, true, false>() : Kernels{};
}

}  // namespace

int packed_tile_rows() { return kRows; }

// Groups g .. g + n_groups - 1 (4 tokens each) lie in whole chunks of 16 tokens: each chunk
// (two at a time) is computed whole and only the asked-for tokens' rows are written.
void packed_tile_gemm(const cpu::TileShape& shape, const cpu::PackedTile& w,
                      const cpu::PackedActs& x, int64_t g, int64_t n_groups, float* y,
                      int64_t y_stride) {
  const Kernels kernels = kernels_for(shape);
  configure_tiles(shape.has_sub ? kPackBlock / 2 : kPackBlock);
  const int64_t first = g * kTileTokens, end = (g + n_groups) * kTileTokens;  // tokens
  const int64_t n_units = shape.has_sub ? 2 * w.n_blocks : w.n_blocks;
  alignas(64) float acc[2][kChunkTokens][kRows];
  for (int64_t c = first / kChunkTokens; c * kChunkTokens < end; c += 2) {
    const bool pair = (c + 1) * kChunkTokens < end;
    std::fill_n(&acc[0][0][0], sizeof acc / sizeof(float), 0.0f);
    (pair ? kernels.two : kernels.one)(w, x, c, n_units, acc);
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
