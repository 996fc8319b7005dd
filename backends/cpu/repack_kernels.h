// The interleaved weight layouts of repack.h, the scalar conversions into and out of them
// and the decode kernels each SIMD level defines over them (repack_<level>.cpp). A group is
// 8 consecutive weight rows; each of its blocks holds those rows' values of one block of
// the original type, arranged so that one 32-byte load is 4 bytes of each of the 8 rows: a
// multiply with 4 broadcast activation bytes (vpmaddubsw) then advances all 8 rows at once,
// and the 8 rows' scales sit side by side (one fp16 load converts all of them).
#pragma once

#include <cstddef>
#include <cstdint>

#include "types/blocks.h"

namespace tern::cpu {

inline constexpr int kGroupRows = 8;
/// Activation rows the decode kernels take in one pass over the weights (more run in
/// further passes), and the most they take at all (batched decoding; more tokens take the
/// packed GEMM of prompts).
inline constexpr int kMaxActRows = 4;
inline constexpr int kMaxDecodeRows = 2 * kMaxActRows;

/// 8 rows x 32 values of Q4_0. Byte k of row r in step s holds value 4s + k in its low
/// nibble and value 16 + 4s + k in its high nibble (the original qs bytes 4s..4s+3).
struct BlockQ4_0x8 {
  uint8_t qs[4][kGroupRows][4];
  uint16_t d[kGroupRows];
};
static_assert(sizeof(BlockQ4_0x8) == kGroupRows * sizeof(BlockQ4_0));

/// 8 rows x 32 values of Q4_1: the nibbles as in BlockQ4_0x8, the rows' scales and minimums.
struct BlockQ4_1x8 {
  uint8_t qs[4][kGroupRows][4];
  uint16_t d[kGroupRows];
  uint16_t m[kGroupRows];
};
static_assert(sizeof(BlockQ4_1x8) == kGroupRows * sizeof(BlockQ4_1));

/// 8 rows x 32 values of Q5_0 / Q5_1: the low 4 bits as in BlockQ4_0x8, the fifth bits as 8
/// planes: bit p = 2s + h of qh[r][k] is the fifth bit of value 4s + k + 16h of row r (so
/// one shift and one mask put any step's bits at bit 4 of every byte); the rows' scales
/// (and Q5_1's minimums).
struct BlockQ5_0x8 {
  uint8_t qs[4][kGroupRows][4];
  uint8_t qh[kGroupRows][4];
  uint16_t d[kGroupRows];
};
static_assert(sizeof(BlockQ5_0x8) == kGroupRows * sizeof(BlockQ5_0));
struct BlockQ5_1x8 {
  uint8_t qs[4][kGroupRows][4];
  uint8_t qh[kGroupRows][4];
  uint16_t d[kGroupRows];
  uint16_t m[kGroupRows];
};
static_assert(sizeof(BlockQ5_1x8) == kGroupRows * sizeof(BlockQ5_1));

/// 8 rows x 32 values of Q8_0: qs[s][r][k] = value 4s + k of row r.
struct BlockQ8_0x8 {
  int8_t qs[8][kGroupRows][4];
  uint16_t d[kGroupRows];
};
static_assert(sizeof(BlockQ8_0x8) == kGroupRows * sizeof(BlockQ8_0));

/// 8 rows x 256 values of Q4_K, with the 6-bit scales and minimums unpacked to bytes.
/// qs[c][s][r][k]: low nibble = value 4s + k of sub-block 2c, high nibble = the same value
/// of sub-block 2c + 1 (the original qs byte 32c + 4s + k).
struct BlockQ4_Kx8 {
  uint8_t qs[4][8][kGroupRows][4];
  uint16_t d[kGroupRows];
  uint16_t dmin[kGroupRows];
  uint8_t scales[8][kGroupRows];    // [sub-block][row]
  uint8_t mins[4][kGroupRows][2];   // [sub-block pair][row][sub-block % 2]
};
static_assert(sizeof(BlockQ4_Kx8) == 1184);  // 8 x 144 + 32 bytes of unpacked scales

/// 8 rows x 256 values of Q6_K. q = low 4 bits | high 2 bits << 4, value d * scale * (q - 32).
/// ql[c][s][r][k]: low 4 bits of value 4s + k of sub-block 2c (low nibble) and of sub-block
/// 2c + 1 (high nibble); qh[h][s][r][k]: bits 2i..2i+1 = high 2 bits of value 4s + k of
/// sub-block 4h + i; scales[j][r] = the scales of values 0-15 and 16-31 of sub-block j.
struct BlockQ6_Kx8 {
  uint8_t ql[4][8][kGroupRows][4];
  uint8_t qh[2][8][kGroupRows][4];
  int8_t scales[8][kGroupRows][2];
  uint16_t d[kGroupRows];
};
static_assert(sizeof(BlockQ6_Kx8) == kGroupRows * sizeof(BlockQ6_K));

/// One activation row prepared for the kernels (the caller's Q8_0, Q8_1 or Q8_K row plus sums).
struct GroupActs {
  const void* blocks;    // the row in the weight type's vec_dot_type
  const float* d;        // Q8_0/Q8_1: the scale of each block of 32
  const int32_t* sums;   // Q8_0/Q8_1: sum(q) per block; Q8_K: per super-block, 4 words of two
                         // int16 sums of 32 quants (sub-blocks 2p, 2p + 1)
  const float* s;        // Q8_1: the block's stored d * sum(q), which Q4_1/Q5_1 products use
};


/// Writes one group: `n_rows` rows (the rest stay zero) of n_blocks blocks each into `out`.
using RepackGroupFn = void (*)(const uint8_t* const* rows, int n_rows, int64_t n_blocks,
                               uint8_t* out);

/// Writes block b (32 values) of the 8 rows of the interleaved group at `group` in the packed
/// GEMM's tile form (packed_gemm_kernels.h): q [8 steps][8 rows][4], d and min [8 rows],
/// sub [2 halves][16] (lanes 2r, 2r + 1: row r's sub-scale, or Q4_K's block scale; left alone
/// for types without).
using GroupBlockUnpackFn = void (*)(const uint8_t* group, int64_t b, int8_t* q, float* d,
                                    float* min, int16_t* sub);

// Each interleaved type's RepackGroupFn and GroupBlockUnpackFn (repack.cpp), named by the
// CPU type table (type_kernels.cpp). Q4_0, Q4_1, Q5_0 and Q5_1 share the nibble layout.
template <typename Block, typename Group>
void repack_nibbles(const uint8_t* const* rows, int n_rows, int64_t n_blocks, uint8_t* out);
void repack_q8_0(const uint8_t* const* rows, int n_rows, int64_t n_blocks, uint8_t* out);
void repack_q4_k(const uint8_t* const* rows, int n_rows, int64_t n_blocks, uint8_t* out);
void repack_q6_k(const uint8_t* const* rows, int n_rows, int64_t n_blocks, uint8_t* out);
template <typename Group>
void tile_nibbles(const uint8_t* group, int64_t b, int8_t* q, float* d, float* min, int16_t* sub);
void tile_q8_0(const uint8_t* group, int64_t b, int8_t* q, float* d, float* min, int16_t* sub);
void tile_q4_k(const uint8_t* group, int64_t b, int8_t* q, float* d, float* min, int16_t* sub);
void tile_q6_k(const uint8_t* group, int64_t b, int8_t* q, float* d, float* min, int16_t* sub);
}  // namespace tern::cpu

// One declaration list for every level: y[j * y_stride + 8g + r] = row r of group g . x[j],
// for g < n_groups (groups contiguous from `groups`, n_blocks blocks of the original type
// each) and j < n_x (the activation rows).
#define TERN_REPACK_DECLARATIONS                                                \
  void gemv_q4_0x8(const void* groups, int64_t n_blocks, int64_t n_groups,      \
                 const cpu::GroupActs* x, int n_x, float* y, int64_t y_stride); \
  void gemv_q4_1x8(const void* groups, int64_t n_blocks, int64_t n_groups,      \
                 const cpu::GroupActs* x, int n_x, float* y, int64_t y_stride); \
  void gemv_q5_0x8(const void* groups, int64_t n_blocks, int64_t n_groups,      \
                 const cpu::GroupActs* x, int n_x, float* y, int64_t y_stride); \
  void gemv_q5_1x8(const void* groups, int64_t n_blocks, int64_t n_groups,      \
                 const cpu::GroupActs* x, int n_x, float* y, int64_t y_stride); \
  void gemv_q8_0x8(const void* groups, int64_t n_blocks, int64_t n_groups,      \
                 const cpu::GroupActs* x, int n_x, float* y, int64_t y_stride); \
  void gemv_q4_kx8(const void* groups, int64_t n_blocks, int64_t n_groups,      \
                 const cpu::GroupActs* x, int n_x, float* y, int64_t y_stride); \
  void gemv_q6_kx8(const void* groups, int64_t n_blocks, int64_t n_groups,      \
                 const cpu::GroupActs* x, int n_x, float* y, int64_t y_stride);

namespace tern::avx2 {
TERN_REPACK_DECLARATIONS
}  // namespace tern::avx2

namespace tern::avx512 {
TERN_REPACK_DECLARATIONS
}  // namespace tern::avx512
