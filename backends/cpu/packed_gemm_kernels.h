// The per-ISA half of the packed GEMM (packed_gemm.h): the tile layout shared with the
// baseline driver, the kernels each SIMD level defines in packed_gemm_<level>.cpp, and
// the scalar unpackers of each packable type's blocks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern::cpu {

inline constexpr int kTileRows = 8;    // weight rows per tile unit (an interleaved group)
inline constexpr int kTileTokens = 4;  // activation rows per kernel call
inline constexpr int kChunkTokens = 16;  // AMX: tokens whose blocks are side by side (A rows)
static_assert(kChunkTokens % kTileTokens == 0);
inline constexpr int kPackBlock = 32;  // values per scale
inline constexpr int kStepValues = 4;  // values per row in one step of the tile

/// How a type's tile is multiplied (the kernel's template parameters):
/// - is_signed: quants are int8 (Q8_0, IQ4_*, Q6_K, Q3_K); otherwise unsigned bytes (0..31);
/// - has_min: y gains min * (activation block sum), the float offset per 32 values
///   (Q4_0's -8d, Q4_1's m, Q4_K's -dmin*m);
/// - has_sub: per-16-value int16 sub-scales multiply the byte products (Q6_K, Q3_K);
/// - group_steps: 32-byte steps whose 16-bit products can be summed before widening
///   without overflow (1, 4 or 8; bounded by max |q| and by the sub-scale groups);
/// - scales_in_sub: d is a super-block scale times the integer block scale that sub also
///   holds (Q4_K, Q5_K; the SIMD levels read d alone, AMX sums super-blocks with sub).
struct TileShape {
  bool is_signed;
  bool has_min;
  bool has_sub;
  int group_steps;
  bool scales_in_sub = false;

  /// Whether the tile carries sub (PackedForm::carries_sub): AMX sums its super-blocks.
  bool carries_sub() const { return has_sub || scales_in_sub; }
};

/// One packed tile of R rows (the level's packed_tile_rows(): 16 or 32) x n_blocks blocks of
/// 32 values: q[b][step][row][4] (32 R bytes per block, one vector of 4 R bytes per step),
/// d/min[b][row] floats, and sub[b][half][2 R] int16 (row r's sub-scale for values 16*half..
/// of block b at lanes 2r and 2r+1).
struct PackedTile {
  const int8_t* q;
  const float* d;
  const float* min;
  const int16_t* sub;
  int64_t n_blocks;
};

/// Activations in chunks of C tokens (the level's packed_chunk_tokens(): kTileTokens, or
/// kChunkTokens at AMX; the last chunk padded with zero tokens), block by block: the
/// (token, block) pair i = (chunk * n_blocks + block) * C + token % C has its scale at d + i,
/// its scaled sum (d * sum(q)) at s + i and the integer sums of its halves (16 quants each)
/// at sum + 2 i. Its 32 quants are at q + 32 i (quant_offset): a group of kTileTokens tokens
/// has each block's 4 tokens one after another (with C = 4, its blocks follow one another
/// too: 16-token chunks made the AVX512 kernel 10-15% slower), an AMX chunk each block's 16
/// tokens (one tile operand of 16 rows x 32 bytes). With `pairs` (AMX, where every product
/// of the call sums whole K-quant super-blocks), a chunk has a token's blocks 2p and 2p + 1
/// side by side instead: one 64-byte row of a K = 64 operand, the tokens 64 bytes apart.
/// (Pairs for every type made the block products, which read 32 of each 64 bytes, 12-13%
/// slower.)
struct PackedActs {
  const int8_t* q;
  const float* d;
  const float* s;
  const int32_t* sum;
  int64_t n_blocks;
  int64_t n_tokens;  // the real ones: the last chunk's others are zero
  bool pairs = false;

  /// The pair of group g's first token and block b, in chunks of C tokens (C must be the
  /// level's: a template, so that the kernels' address arithmetic has no division).
  template <int C>
  int64_t at(int64_t g, int64_t b) const {
    static_assert(C % kTileTokens == 0);
    constexpr int kGroups = C / kTileTokens;
    return ((g / kGroups) * n_blocks + b) * C + (g % kGroups) * kTileTokens;
  }

  /// Blocks of quants per token in a chunk: with pairs, rounded up to whole pairs.
  static int64_t quant_blocks(int64_t n_blocks, bool pairs) {
    return pairs ? (n_blocks + 1) / 2 * 2 : n_blocks;
  }

  /// Where token t's quants of block b start, in bytes from q, in chunks of `chunk` tokens.
  static int64_t quant_offset(int64_t chunk, int64_t n_blocks, bool pairs, int64_t t, int64_t b) {
    const int64_t first = t / chunk * quant_blocks(n_blocks, pairs) * chunk * kPackBlock;
    if (!pairs) return first + (b * chunk + t % chunk) * kPackBlock;
    return first + ((b / 2 * chunk + t % chunk) * 2 + b % 2) * kPackBlock;
  }

  /// Group g's first token's quants of block b in chunks of C tokens.
  template <int C>
  const int8_t* quants(int64_t g, int64_t b) const {
    return q + quant_offset(C, n_blocks, pairs, g * kTileTokens, b);
  }
};

/// One 32-value block of a weight row in integer form: value j = d * sub[j / 16] * q[j] + min
/// (for scales_in_sub types: d * q[j] + min, with sub the integer factor of d).
struct UnpackedBlock {
  int8_t q[kPackBlock];
  float d = 0;
  float min = 0;
  int16_t sub[2] = {1, 1};
};

/// Block b (of 32 values) of a row of the file's blocks.
using BlockUnpackFn = void (*)(const uint8_t* row, int64_t b, UnpackedBlock& out);

// Each packable type's BlockUnpackFn (packed_gemm.cpp), named by the CPU type table
// (type_kernels.cpp). Legacy: Q4_0, Q4_1, Q5_0, Q5_1; q45_k: Q4_K, Q5_K.
template <typename Block>
void unpack_legacy(const uint8_t* row, int64_t b, UnpackedBlock& out);
void unpack_q8_0(const uint8_t* row, int64_t b, UnpackedBlock& out);
void unpack_iq4_nl(const uint8_t* row, int64_t b, UnpackedBlock& out);
void unpack_mxfp4(const uint8_t* row, int64_t b, UnpackedBlock& out);
template <typename Block>
void unpack_q45_k(const uint8_t* row, int64_t b, UnpackedBlock& out);
void unpack_q6_k(const uint8_t* row, int64_t b, UnpackedBlock& out);
void unpack_q3_k(const uint8_t* row, int64_t b, UnpackedBlock& out);
void unpack_iq4_xs(const uint8_t* row, int64_t b, UnpackedBlock& out);
}  // namespace tern::cpu

// One declaration list for every level.
#define TERN_PACKED_GEMM_DECLARATIONS                                                       \
  /* Weight rows per tile at this level. */                                                 \
  int packed_tile_rows();                                                                   \
  /* Tokens per chunk of the activations at this level (PackedActs). */                     \
  int packed_chunk_tokens();                                                                \
  /* y[t * y_stride + r] = tile row r . token t, for every row of the tile and every one */ \
  /* of the 4 n_groups tokens of groups g, g + 1, ... (AMX: only tokens < x.n_tokens; */    \
  /* the driver passes a buffer for a partial tile or a last group of fewer tokens). */     \
  void packed_tile_gemm(const cpu::TileShape& shape, const cpu::PackedTile& w,              \
                        const cpu::PackedActs& x, int64_t g, int64_t n_groups, float* y,    \
                        int64_t y_stride);

namespace tern::avx2 {
TERN_PACKED_GEMM_DECLARATIONS
}  // namespace tern::avx2

namespace tern::avx512 {
TERN_PACKED_GEMM_DECLARATIONS
}  // namespace tern::avx512

namespace tern::amx {
TERN_PACKED_GEMM_DECLARATIONS
}  // namespace tern::amx
