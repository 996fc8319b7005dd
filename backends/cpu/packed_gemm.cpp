#include "backends/cpu/packed_gemm.h"

#include <fmt/format.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "backends/cpu/aligned_vector.h"
#include "backends/cpu/packed_gemm_kernels.h"
#include "backends/cpu/repack.h"
#include "backends/cpu/thread_pool.h"
#include "backends/cpu/type_kernels.h"
#include "tern/error.h"
#include "types/blocks.h"
#include "types/float_types.h"
#include "types/quant_iq.h"
#include "types/quant_k.h"
#include "types/quant_mxfp4.h"

namespace tern::cpu {

namespace {

template <typename Block>
const Block& block_at(const uint8_t* row, int64_t i) {
  return reinterpret_cast<const Block*>(row)[i];
}

// Legacy 4/5-bit quants: value j < 16 in the low nibble of qs[j], j + 16 in its high nibble;
// bit j of qh (little-endian u32) is bit 4 of value j.
void nibbles(const uint8_t* qs, int8_t* q) {
  for (int j = 0; j < kPackBlock / 2; ++j) {
    q[j] = static_cast<int8_t>(qs[j] & 0x0f);
    q[j + kPackBlock / 2] = static_cast<int8_t>(qs[j] >> 4);
  }
}
void fifth_bits(const uint8_t* qh, int8_t* q) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  for (int j = 0; j < kPackBlock; ++j) q[j] = static_cast<int8_t>(q[j] | (((bits >> j) & 1) << 4));
}

}  // namespace

// Q4_0, Q4_1, Q5_0, Q5_1: nibbles (plus fifth bits where the block has qh), scale d, and
// either the block's minimum m or the centring offset (8 or 16 steps) as the minimum.
template <typename Block>
void unpack_legacy(const uint8_t* row, int64_t b, UnpackedBlock& out) {
  const auto& blk = block_at<Block>(row, b);
  nibbles(blk.qs, out.q);
  constexpr bool kFifthBit = requires { blk.qh; };
  if constexpr (kFifthBit) fifth_bits(blk.qh, out.q);
  out.d = f16_to_f32(blk.d);
  if constexpr (requires { blk.m; }) {
    out.min = f16_to_f32(blk.m);
  } else {
    out.min = (kFifthBit ? -16.0f : -8.0f) * out.d;
  }
}
template void unpack_legacy<BlockQ4_0>(const uint8_t*, int64_t, UnpackedBlock&);
template void unpack_legacy<BlockQ4_1>(const uint8_t*, int64_t, UnpackedBlock&);
template void unpack_legacy<BlockQ5_0>(const uint8_t*, int64_t, UnpackedBlock&);
template void unpack_legacy<BlockQ5_1>(const uint8_t*, int64_t, UnpackedBlock&);

void unpack_q8_0(const uint8_t* row, int64_t b, UnpackedBlock& out) {
  const auto& blk = block_at<BlockQ8_0>(row, b);
  std::memcpy(out.q, blk.qs, kPackBlock);
  out.d = f16_to_f32(blk.d);
}
void unpack_iq4_nl(const uint8_t* row, int64_t b, UnpackedBlock& out) {
  const auto& blk = block_at<BlockIQ4_NL>(row, b);
  nibbles(blk.qs, out.q);
  for (auto& q : out.q) q = kIq4nlValues[q];
  out.d = f16_to_f32(blk.d);
}
void unpack_mxfp4(const uint8_t* row, int64_t b, UnpackedBlock& out) {
  const auto& blk = block_at<BlockMXFP4>(row, b);
  nibbles(blk.qs, out.q);
  for (auto& q : out.q) q = kE2m1Doubled[q];
  out.d = e8m0_half(blk.e);
}

// K-quants: 32-value block b is sub-block j = b % 8 of super-block b / 8.
constexpr int kSubBlocks = kSuperBlock / kPackBlock;

// Q4_K/Q5_K: value l of sub-block j is a nibble of qs[32 * (j / 2) + l] (high for odd j);
// Q5_K's fifth bit is bit j of qh[l].
template <typename Block>
void unpack_q45_k(const uint8_t* row, int64_t b, UnpackedBlock& out) {
  const auto& blk = block_at<Block>(row, b / kSubBlocks);
  int j = static_cast<int>(b % kSubBlocks);
  const uint8_t* qs = blk.qs + 32 * (j / 2);
  int shift = 4 * (j % 2);
  for (int l = 0; l < kPackBlock; ++l) out.q[l] = static_cast<int8_t>((qs[l] >> shift) & 0x0f);
  if constexpr (sizeof(Block) == sizeof(BlockQ5_K)) {
    for (int l = 0; l < kPackBlock; ++l) {
      out.q[l] = static_cast<int8_t>(out.q[l] | (((blk.qh[l] >> j) & 1) << 4));
    }
  }
  int sc, m;
  unpack_scale_min_k4(blk.scales, j, sc, m);
  out.d = f16_to_f32(blk.d) * static_cast<float>(sc);
  out.min = -f16_to_f32(blk.dmin) * static_cast<float>(m);
  out.sub[0] = out.sub[1] = static_cast<int16_t>(sc);  // scales_in_sub
}

template void unpack_q45_k<BlockQ4_K>(const uint8_t*, int64_t, UnpackedBlock&);
template void unpack_q45_k<BlockQ5_K>(const uint8_t*, int64_t, UnpackedBlock&);

// Q6_K: value l of sub-block j = 4h + k: low 4 bits in ql[64h + 32 (k % 2) + l] (high nibble
// for k >= 2), high 2 bits in field k of qh[32h + l]; q - 32; signed scales per 16 values.
void unpack_q6_k(const uint8_t* row, int64_t b, UnpackedBlock& out) {
  const auto& blk = block_at<BlockQ6_K>(row, b / kSubBlocks);
  int j = static_cast<int>(b % kSubBlocks);
  int h = j / 4, k = j % 4;
  const uint8_t* ql = blk.ql + 64 * h + 32 * (k % 2);
  const uint8_t* qh = blk.qh + 32 * h;
  int low_shift = k < 2 ? 0 : 4;
  for (int l = 0; l < kPackBlock; ++l) {
    int q = ((ql[l] >> low_shift) & 0x0f) | (((qh[l] >> (2 * k)) & 3) << 4);
    out.q[l] = static_cast<int8_t>(q - 32);
  }
  out.d = f16_to_f32(blk.d);
  out.sub[0] = blk.scales[2 * j];
  out.sub[1] = blk.scales[2 * j + 1];
}

// Q3_K: value l of sub-block j: 2 bits in field j % 4 of qs[32 * (j / 4) + l], bit j of
// hmask[l] set = no -4 offset; signed 6-bit scales per 16 values.
void unpack_q3_k(const uint8_t* row, int64_t b, UnpackedBlock& out) {
  const auto& blk = block_at<BlockQ3_K>(row, b / kSubBlocks);
  int j = static_cast<int>(b % kSubBlocks);
  const uint8_t* qs = blk.qs + 32 * (j / 4);
  int shift = 2 * (j % 4);
  for (int l = 0; l < kPackBlock; ++l) {
    int q = ((qs[l] >> shift) & 3) + 4 * ((blk.hmask[l] >> j) & 1) - 4;
    out.q[l] = static_cast<int8_t>(q);
  }
  out.d = f16_to_f32(blk.d);
  out.sub[0] = static_cast<int16_t>(unpack_scale_q3_k(blk.scales, 2 * j));
  out.sub[1] = static_cast<int16_t>(unpack_scale_q3_k(blk.scales, 2 * j + 1));
}

// IQ4_XS: sub-block j's values are kIq4nlValues of the nibbles of qs[16 j ..], scale ls - 32.
void unpack_iq4_xs(const uint8_t* row, int64_t b, UnpackedBlock& out) {
  const auto& blk = block_at<BlockIQ4_XS>(row, b / kSubBlocks);
  int j = static_cast<int>(b % kSubBlocks);
  nibbles(blk.qs + 16 * j, out.q);
  for (auto& q : out.q) q = kIq4nlValues[q];
  int ls = ((blk.scales_l[j / 2] >> (4 * (j % 2))) & 0x0f) | (((blk.scales_h >> (2 * j)) & 3) << 4);
  out.d = f16_to_f32(blk.d) * static_cast<float>(ls - 32);
}

namespace {

// Tokens whose activations one task quantizes and packs.
constexpr int64_t kActTokensPerTask = 8;

// Steps of 16-bit pair sums (each at most 2 * max|q| * 127) that fit in int16, capped by the
// 8 steps of a block and, with sub-scales, by the 4 steps of one sub-scale.
TileShape shape_of(const PackedForm& f) {
  int steps = 8;
  while (steps > 1 && steps * 2 * f.max_abs_q * 127 > 32767) steps /= 2;
  if (f.has_sub) steps = std::min(steps, 4);
  return {f.is_signed, f.has_min, f.has_sub, steps, f.scales_in_sub};
}

// The sum of 16 int8 values. GCC left the plain loop scalar (a sign extension and an add per
// byte: a fifth of the 135M Q8_0 prompt's activation packing on the AMX VM); with SSE2, the
// bytes offset by 128 are unsigned and psadbw sums each 8 of them.
int32_t sum16(const int8_t* v) {
#if defined(__SSE2__)
  const __m128i u = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v)),
                                  _mm_set1_epi8(static_cast<char>(0x80)));
  const __m128i sums = _mm_sad_epu8(u, _mm_setzero_si128());
  return _mm_cvtsi128_si32(sums) + _mm_extract_epi16(sums, 4) - 16 * 128;
#else
  int32_t sum = 0;
  for (int i = 0; i < 16; ++i) sum += v[i];
  return sum;
#endif
}

// Block b (32 values) of one activation row in the row kernels' format (the weights'
// vec_dot_type): its quants, scale, scaled sum d * sum(q) and the integer sums of its two
// halves. Reading the row kernels' own quantization keeps both paths on the same activation
// values.
void act_block(TensorType format, const uint8_t* row, int64_t b, int8_t* q, float& d, float& s,
               int32_t* half_sums) {
  auto sum_halves = [&](const int8_t* v) {
    half_sums[0] = sum16(v);
    half_sums[1] = sum16(v + kPackBlock / 2);
    return half_sums[0] + half_sums[1];
  };
  switch (format) {
    case TensorType::Q8_0: {
      const auto& blk = block_at<BlockQ8_0>(row, b);
      std::memcpy(q, blk.qs, kPackBlock);
      d = f16_to_f32(blk.d);
      s = d * static_cast<float>(sum_halves(blk.qs));
      return;
    }
    case TensorType::Q8_1: {
      const auto& blk = block_at<BlockQ8_1>(row, b);
      std::memcpy(q, blk.qs, kPackBlock);
      sum_halves(blk.qs);
      d = f16_to_f32(blk.d);
      s = f16_to_f32(blk.s);
      return;
    }
    case TensorType::Q8_K: {
      const auto& blk = block_at<BlockQ8_K>(row, b / kSubBlocks);
      int j = static_cast<int>(b % kSubBlocks);
      std::memcpy(q, blk.qs + kPackBlock * j, kPackBlock);
      half_sums[0] = blk.bsums[2 * j];
      half_sums[1] = blk.bsums[2 * j + 1];
      d = blk.d;
      s = d * static_cast<float>(half_sums[0] + half_sums[1]);
      return;
    }
    default:
      throw Error(
          fmt::format("packed_matmuls: no packed activations for {}", type_traits(format).name));
  }
}

using TileGemmFn = decltype(&avx2::packed_tile_gemm);

// A level's tile kernel, its tile height, whether it writes no token past the real ones
// (then a prompt's last, partial group needs no buffer) and whether it takes K-quants'
// activations by pairs of blocks (PackedActs::pairs).
struct TileKernels {
  TileGemmFn gemm;
  int rows;
  int chunk_tokens;
  bool clips_tokens = false;
  bool pairs_k_quants = false;
};

TileKernels tile_kernels(Isa isa) {
  switch (isa) {
    case Isa::Avx2:
      return {avx2::packed_tile_gemm, avx2::packed_tile_rows(), avx2::packed_chunk_tokens()};
    case Isa::Avx512:
      return {avx512::packed_tile_gemm, avx512::packed_tile_rows(), avx512::packed_chunk_tokens()};
    case Isa::Amx:
      return {amx::packed_tile_gemm, amx::packed_tile_rows(), amx::packed_chunk_tokens(), true,
              true};
    case Isa::Scalar:
      break;
  }
  return {nullptr, 0, kTileTokens};
}

// A thread's tile storage (packed_gemm_kernels.h's layout for `rows` rows), reused across calls.
struct TileBuffer {
  AlignedVector<int8_t> q;
  AlignedVector<float> d, min;
  AlignedVector<int16_t> sub;
  int rows = 0;

  // Space for n_blocks blocks of `tile_rows` rows; where fewer rows than that are packed,
  // the rest must read as zero, so the buffers are cleared.
  void resize(const PackedForm& f, int tile_rows, int64_t n_blocks, bool clear) {
    rows = tile_rows;
    auto blocks = static_cast<size_t>(n_blocks);
    auto r = static_cast<size_t>(rows);
    q.resize(blocks * kPackBlock * r);
    d.resize(blocks * r);
    min.resize(blocks * r);
    sub.resize(f.carries_sub() ? blocks * 4 * r : 0);
    if (clear) {
      std::fill(q.begin(), q.end(), int8_t{0});
      std::fill(d.begin(), d.end(), 0.0f);
      std::fill(min.begin(), min.end(), 0.0f);
      std::fill(sub.begin(), sub.end(), int16_t{0});
    }
  }

  PackedTile tile(int64_t n_blocks) const { return {q.data(), d.data(), min.data(), sub.data(), n_blocks}; }

  // The tile of n_units interleaved groups (repack.h) from `group` on: their rows are
  // already side by side, so each block unpacks with byte shifts (an 8-row unit at a time,
  // then into its place in the tile's steps).
  PackedTile pack_groups(const PackedForm& f, GroupBlockUnpackFn unpack, const uint8_t* group,
                         size_t group_bytes, int n_units, int tile_rows, int64_t n_blocks) {
    resize(f, tile_rows, n_blocks, n_units * kTileRows < tile_rows);
    constexpr int kUnitStep = kTileRows * kStepValues;  // bytes of one unit's step
    int8_t unit_q[kTileRows * kPackBlock];
    float unit_d[kTileRows], unit_min[kTileRows];
    int16_t unit_sub[4 * kTileRows];
    for (int u = 0; u < n_units; ++u) {
      for (int64_t b = 0; b < n_blocks; ++b) {
        auto bi = static_cast<size_t>(b);
        unpack(group + group_bytes * static_cast<size_t>(u), b, unit_q, unit_d, unit_min,
               f.carries_sub() ? unit_sub : nullptr);
        int8_t* block_q = q.data() + bi * kPackBlock * static_cast<size_t>(rows);
        for (int step = 0; step < kPackBlock / kStepValues; ++step) {
          std::memcpy(block_q + (step * rows + u * kTileRows) * kStepValues, unit_q + step * kUnitStep, kUnitStep);
        }
        std::memcpy(d.data() + bi * static_cast<size_t>(rows) + u * kTileRows, unit_d, sizeof unit_d);
        std::memcpy(min.data() + bi * static_cast<size_t>(rows) + u * kTileRows, unit_min, sizeof unit_min);
        if (f.carries_sub()) {
          for (int half = 0; half < 2; ++half) {
            std::memcpy(sub.data() + ((2 * bi + static_cast<size_t>(half)) * static_cast<size_t>(rows) + u * kTileRows) * 2,
                        unit_sub + half * 2 * kTileRows, sizeof(int16_t) * 2 * kTileRows);
          }
        }
      }
    }
    return tile(n_blocks);
  }

  // Packs rows [r0, r0 + n_rows) of w (row_stride bytes apart) for n_blocks blocks; rows past
  // n_rows (a matrix's last tile) are zero.
  PackedTile pack(const PackedForm& f, const uint8_t* w, size_t row_stride, int64_t r0,
                  int n_rows, int tile_rows, int64_t n_blocks) {
    resize(f, tile_rows, n_blocks, n_rows < tile_rows);
    UnpackedBlock u;
    auto stride = static_cast<size_t>(rows);
    for (int r = 0; r < n_rows; ++r) {
      const uint8_t* row = w + row_stride * static_cast<size_t>(r0 + r);
      for (int64_t b = 0; b < n_blocks; ++b) {
        f.unpack(row, b, u);
        auto bi = static_cast<size_t>(b);
        int8_t* dst = q.data() + bi * kPackBlock * stride + kStepValues * r;
        for (int step = 0; step < kPackBlock / kStepValues; ++step) {
          std::memcpy(dst + stride * kStepValues * step, u.q + kStepValues * step, kStepValues);
        }
        d[bi * stride + static_cast<size_t>(r)] = u.d;
        min[bi * stride + static_cast<size_t>(r)] = u.min;
        if (f.carries_sub()) {
          for (int half = 0; half < 2; ++half) {
            int16_t* lanes = sub.data() + ((2 * bi + static_cast<size_t>(half)) * stride + static_cast<size_t>(r)) * 2;
            lanes[0] = lanes[1] = u.sub[half];
          }
        }
      }
    }
    return tile(n_blocks);
  }
};

}  // namespace

bool has_packed_gemm(TensorType type, Isa isa) {
  const TypeKernels& k = type_kernels(type);
  return k.packed.unpack != nullptr && tile_kernels(isa).gemm != nullptr &&
         simd_kernels(k.vec_dot_type, isa).quantize != nullptr;
}

bool prefer_packed_gemm(std::span<const MatmulTarget> targets, int64_t n, Isa isa) {
  return std::all_of(targets.begin(), targets.end(), [&](const MatmulTarget& t) {
    if (!has_packed_gemm(t.type, isa)) return false;
    // Interleaved weights unpack cheaply and their file pages should stay unread; up to
    // kMaxDecodeRows tokens (batched decoding) their decode kernels are faster still.
    return n > (t.packed != nullptr ? kMaxDecodeRows : type_kernels(t.type).packed.min_tokens - 1);
  });
}

void packed_matmuls(std::span<const MatmulTarget> targets, int64_t cols, const float* x, int64_t n,
                    int n_threads, Isa isa) {
  const TileKernels kernels = tile_kernels(isa);
  if (kernels.gemm == nullptr || cols % kPackBlock != 0) {
    throw Error(fmt::format("packed_matmuls: no kernels at this level for {} columns", cols));
  }
  // One task per tile of kernels.rows rows, numbered target after target.
  std::vector<int64_t> first_task(targets.size() + 1, 0);
  for (size_t i = 0; i < targets.size(); ++i) {
    const TypeKernels& k = type_kernels(targets[i].type);
    if (k.vec_dot_type != type_kernels(targets[0].type).vec_dot_type) {
      throw Error("packed_matmuls: targets with different activation formats");
    }
    if (k.packed.unpack == nullptr || cols % type_traits(targets[i].type).block_size != 0) {
      throw Error(fmt::format("packed_matmuls: {} weights of {} columns have no packed form",
                              type_traits(targets[i].type).name, cols));
    }
    first_task[i + 1] = first_task[i] + (targets[i].rows + kernels.rows - 1) / kernels.rows;
  }
  int64_t n_blocks = cols / kPackBlock;
  // Activations in chunks of the level's tokens (packed_gemm_kernels.h), the last chunk's
  // missing tokens zero.
  if (n == 0) return;
  int64_t n_groups = (n + kTileTokens - 1) / kTileTokens;
  const int64_t chunk = kernels.chunk_tokens;
  int64_t n_chunks = (n + chunk - 1) / chunk;
  auto token_blocks = static_cast<size_t>(n_chunks * n_blocks * chunk);
  thread_local AlignedVector<int8_t> xq;
  thread_local AlignedVector<float> xd, xs;
  thread_local AlignedVector<int32_t> xsum;
  const bool pairs =
      kernels.pairs_k_quants &&
      std::all_of(targets.begin(), targets.end(), [](const MatmulTarget& t) {
        return type_kernels(t.type).packed.carries_sub();  // AMX sums their super-blocks
      });
  xq.resize(static_cast<size_t>(n_chunks * PackedActs::quant_blocks(n_blocks, pairs) * chunk) *
            kPackBlock);
  xd.resize(token_blocks);
  xs.resize(token_blocks);
  xsum.resize(2 * token_blocks);
  // Every token below overwrites its slots; only the last chunk's missing tokens need zeros
  // (pairs come with K-quants: whole super-blocks, no half pair).
  auto last_chunk = static_cast<size_t>((n_chunks - 1) * n_blocks * chunk);
  std::fill(
      xq.begin() + PackedActs::quant_offset(chunk, n_blocks, pairs, (n_chunks - 1) * chunk, 0),
      xq.end(), int8_t{0});
  std::fill(xd.begin() + static_cast<std::ptrdiff_t>(last_chunk), xd.end(), 0.0f);
  std::fill(xs.begin() + static_cast<std::ptrdiff_t>(last_chunk), xs.end(), 0.0f);
  std::fill(xsum.begin() + static_cast<std::ptrdiff_t>(2 * last_chunk), xsum.end(), 0);
  // Pointers, not the thread_local names: inside a task those name the worker's own.
  int8_t* q = xq.data();
  float* d = xd.data();
  float* s = xs.data();
  int32_t* sum = xsum.data();
  // Each token is quantized by the row kernels' quantizer, then spread into its group.
  TensorType format = type_kernels(targets[0].type).vec_dot_type;
  FromFloatFn quantize = simd_kernels(format, isa).quantize;
  size_t row_size = checked_row_bytes(format, cols);
  // Tasks of several tokens: one per token of a small model's rows (576 values) left a
  // prompt's products to wait on the pool's task claims (ThreadPool::work 7% of a 135M
  // Q8_0 pp512 profile). And whole chunks: a chunk's scales of one block share a cache line
  // (16 tokens at AMX), which two threads' halves of a chunk kept taking from each other
  // (the packing, 13.5% of a 576 x 576 product's time on one thread, took 26.5% on two).
  const int64_t per_task = std::max(kActTokensPerTask, chunk);
  const int64_t n_tasks = (n + per_task - 1) / per_task;
  ThreadPool::shared().run(n_tasks, n_threads, [&](int64_t task) {
    thread_local std::vector<uint8_t> row;
    row.resize(row_size);
    for (int64_t t = task * per_task; t < std::min(n, (task + 1) * per_task); ++t) {
      quantize(x + t * cols, row.data(), cols);
      int64_t first = (t / chunk) * n_blocks * chunk + t % chunk;
      for (int64_t b = 0; b < n_blocks; ++b) {
        int64_t i = first + b * chunk;
        act_block(format, row.data(), b, q + PackedActs::quant_offset(chunk, n_blocks, pairs, t, b),
                  d[i], s[i], sum + 2 * i);
      }
    }
  });
  PackedActs acts{q, d, s, sum, n_blocks, n, pairs};

  ThreadPool::shared().run(first_task.back(), n_threads, [&](int64_t task) {
    size_t i = 0;
    while (task >= first_task[i + 1]) ++i;
    const MatmulTarget& target = targets[i];
    const TypeKernels& type = type_kernels(target.type);
    const PackedForm& f = type.packed;
    int64_t r0 = (task - first_task[i]) * kernels.rows;
    int n_rows = static_cast<int>(std::min<int64_t>(kernels.rows, target.rows - r0));
    thread_local TileBuffer buffer;
    PackedTile tile;
    if (target.packed != nullptr) {
      size_t group_bytes = repacked_group_bytes(target.type, cols);
      tile = buffer.pack_groups(f, type.repack.tile_block,
                                static_cast<const uint8_t*>(target.packed) + group_bytes * static_cast<size_t>(r0 / kTileRows),
                                group_bytes, (n_rows + kTileRows - 1) / kTileRows, kernels.rows, n_blocks);
    } else {
      tile = buffer.pack(f, static_cast<const uint8_t*>(target.w), checked_row_bytes(target.type, cols), r0,
                         n_rows, kernels.rows, n_blocks);
    }
    TileShape shape = shape_of(f);
    // Whole groups of whole tiles straight into y; the rest (a partial tile, or a last
    // group of fewer tokens) in one call through a buffer the kernel writes all of. One call
    // when the level clips: AMX computes whole chunks and splits K-quant tiles per call.
    int64_t whole_groups = n_rows < kernels.rows  ? 0
                           : kernels.clips_tokens ? n_groups
                                                  : n / kTileTokens;
    if (whole_groups > 0)
      kernels.gemm(shape, tile, acts, 0, whole_groups, target.y + r0, target.rows);
    if (whole_groups < n_groups) {
      thread_local AlignedVector<float> out;
      out.resize(static_cast<size_t>((n_groups - whole_groups) * kTileTokens * kernels.rows));
      kernels.gemm(shape, tile, acts, whole_groups, n_groups - whole_groups, out.data(),
                   kernels.rows);
      for (int64_t t = whole_groups * kTileTokens; t < n; ++t) {
        std::memcpy(target.y + t * target.rows + r0,
                    out.data() + (t - whole_groups * kTileTokens) * kernels.rows,
                    sizeof(float) * static_cast<size_t>(n_rows));
      }
    }
  });
}

}  // namespace tern::cpu
