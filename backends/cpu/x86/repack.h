// The decode kernels over interleaved weight groups (backends/cpu/repack_kernels.h), expanded once
// per SIMD level by repack_<level>.cpp with TERN_SIMD_NAMESPACE set and that level's flags.
// Each 32-byte load is 4 bytes of 8 rows; its low and high nibbles each multiply 4
// broadcast activation bytes (vpmaddubsw), so one instruction advances 8 rows by 4 values
// and the 8 rows' sums come out in the 8 lanes of one vector, scaled there all at once
// (no horizontal sums, no per-row scale gathers: twice the row kernels' speed per core).
// Batched decoding passes up to kMaxActRows activation rows at once (8 for the AVX512 paired
// kernels of the legacy types and Q8_0): each weight load and its nibble split then serve
// every row (kernels are templates over the row count N).
// The kernels themselves: x86/repack_legacy.h and x86/repack_kquant.h (their shared helpers
// in x86/repack_common.h); here, the passes over a matrix's groups and the entry points.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/repack.h"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "backends/cpu/repack_kernels.h"
#include "backends/cpu/x86/repack_common.h"
#include "backends/cpu/x86/repack_kquant.h"
#include "backends/cpu/x86/repack_legacy.h"

namespace tern::TERN_SIMD_NAMESPACE {

namespace {

// Weight streams per pass over the activations: K::kStreams, but one from three activation
// rows without VNNI. There the rows' products hold the core more than the weights' bytes do,
// and the second stream's float sums left the inlined legacy kernels short of registers
// (their sums went through the stack). Both threads from DRAM, Zen 3, one stream against two
// in one process: three rows Q4_1 (SmolLM2's 576 columns) 1.07x, Q4_K 1.10x; four rows Q4_1
// 1.10-1.13x, Q8_0 1.06x (1.15x at 576 columns), Q4_K 1.09x, Q6_K 1.05x; two rows lost
// (Q4_1 0.93x, Q4_K 0.99x).
template <typename K, int N>
constexpr int streams_per_pass() {
  return !kVnniDot && N >= 3 ? 1 : K::kStreams;
}

// y[8g + r] for the n_groups groups at `groups`, each pass over the activation row taking
// streams_per_pass groups spread over the range (group g, g + n_groups / 2): for the byte-light
// legacy kernels two streams of weights in flight draw more from memory than one (one
// thread from DRAM: Q4_0 15 -> 19.5 GB/s, Q8_0 13 -> 18.7 GB/s in bench_kernels), and the
// two accumulators are independent chains. Q4_K too, once its blocks are calls (both
// threads from DRAM: 10-12 -> 13-14 GB/s each; 1B Q4_K_M tg128 +6% with the longer decode
// tasks of backends/cpu/matmul.cpp). Q6_K as well, its blocks calls like Q4_K's (Zen 4, one thread
// from DRAM: 12.5 -> 23 GB/s at the AVX512 level, 16 -> 22 at AVX2; inlined, two streams
// measured no gain on Zen 3).
//
// N activation rows share each pass: row r's results go to y + r * y_stride.
template <typename K, int N>
void gemv_rows(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x,
               float* y, int64_t y_stride) {
  using Block = typename K::Block;
  constexpr int kS = streams_per_pass<K, N>();
  const auto* w = static_cast<const Block*>(groups);
  const int64_t stride = n_groups / kS;  // groups between one pass's streams
  // The loop prefetches kPrefetchAhead bytes past its reads: fetch the bytes before that
  // now, all at once, rather than as one demand miss after another (a decoded token runs
  // thousands of these calls, each starting cold). Only the first 1 KiB of them measured
  // 0-2% faster for the 1B shape's products alone (bench_kernels decode_jobs), but the 1B
  // Q4_K_M file's decode end to end slower (Zen 4, four rounds in turn: 37-43 against
  // 43-47 t/s).
  for (int s = 0; s < kS; ++s) prefetch<kPrefetchAhead>(w + s * stride * n_blocks);
  for (int64_t g = 0; g < n_groups; ++g) {
    int in_pass = stride > 0 && g < stride * kS ? kS : 1;
    if (in_pass > 1 && g >= stride) continue;  // done as another pass's second stream
    const Block* rows[kS];
    __m256 acc[kS][N];
    for (int s = 0; s < in_pass; ++s) {
      rows[s] = w + (g + s * stride) * n_blocks;
      for (int r = 0; r < N; ++r) acc[s][r] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < n_blocks; ++b) {
      for (int s = 0; s < in_pass; ++s) K::template block<N>(rows[s][b], b, x, acc[s]);
    }
    for (int s = 0; s < in_pass; ++s) {
      for (int r = 0; r < N; ++r) {
        _mm256_storeu_ps(y + r * y_stride + cpu::kGroupRows * (g + s * stride), acc[s][r]);
      }
    }
  }
}

#if defined(__AVX512F__)
// gemv_rows for kernels with pair(): the two streams share one vector. Group g pairs with
// g + half; an odd count's last group runs against itself and keeps its low lanes.
template <typename K, int N>
void gemv_pairs(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x,
                float* y, int64_t y_stride) {
  using Block = typename K::Block;
  const auto* w = static_cast<const Block*>(groups);
  const int64_t half = (n_groups + 1) / 2;
  prefetch<kPrefetchAhead>(w);  // as gemv_rows
  if (half < n_groups) prefetch<kPrefetchAhead>(w + half * n_blocks);
  for (int64_t g = 0; g < half; ++g) {
    const int64_t g2 = g + half < n_groups ? g + half : g;
    const Block* a = w + g * n_blocks;
    const Block* b = w + g2 * n_blocks;
    __m512 acc[N];
    for (int r = 0; r < N; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t blk = 0; blk < n_blocks; ++blk) K::template pair<N>(a[blk], b[blk], blk, x, acc);
    for (int r = 0; r < N; ++r) {
      float* yr = y + r * y_stride;
      _mm512_mask_storeu_ps(yr + cpu::kGroupRows * g, 0x00ff, acc[r]);
      // lanes 8-15 land at 8 g2 onwards
      if (g2 != g) _mm512_mask_storeu_ps(yr + cpu::kGroupRows * (g2 - 1), 0xff00, acc[r]);
    }
  }
}
#endif

// Kernels with pair() take it at the AVX512 level for several activation rows. One row
// keeps the 256-bit streams: it is bound by the weights' bytes, and pair()'s extra insert
// per load made it 3-10% slower from L2 (bench_kernels).
template <typename K, int N>
void gemv_n(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x, float* y,
            int64_t y_stride) {
#if defined(__AVX512F__)
  if constexpr (N > 1 && requires { &K::template pair<N>; }) {
    gemv_pairs<K, N>(groups, n_blocks, n_groups, x, y, y_stride);
  } else
#endif
  {
    gemv_rows<K, N>(groups, n_blocks, n_groups, x, y, y_stride);
  }
}

// Activation rows per pass over the weights: kMaxActRows, or a paired kernel's kPairRows
// (its registers hold 8 rows' sums: bench_kernels Q4_1 from L2, 8 rows in one pass 29.8 us
// against 35.3 in two of 4).
template <typename K>
constexpr int rows_per_pass() {
#if defined(__AVX512F__)
  if constexpr (requires { K::kPairRows; }) return K::kPairRows;
#endif
  return cpu::kMaxActRows;
}

// gemv_n<K, n> for the runtime n in [1, sizeof...(N)].
template <typename K, int... N>
void gemv_pass(int n, const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x,
               float* y, int64_t y_stride, std::integer_sequence<int, N...>) {
  (void)((n == N + 1 ? (gemv_n<K, N + 1>(groups, n_blocks, n_groups, x, y, y_stride), true)
                     : false) ||
         ...);
}

template <typename K>
void gemv(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x, int n_x,
          float* y, int64_t y_stride) {
  constexpr int kPass = rows_per_pass<K>();
  for (int r = 0; r < n_x; r += kPass) {
    gemv_pass<K>(std::min(kPass, n_x - r), groups, n_blocks, n_groups, x + r, y + r * y_stride,
                 y_stride, std::make_integer_sequence<int, kPass>{});
  }
}

}  // namespace

// The entry points of backends/cpu/repack_kernels.h, one per interleaved type.
#define TERN_DEFINE_GEMV(name, kernel)                                                       \
  void name(const void* groups, int64_t n_blocks, int64_t n_groups, const GroupActs* x,      \
            int n_x, float* y, int64_t y_stride) {                                           \
    gemv<kernel>(groups, n_blocks, n_groups, x, n_x, y, y_stride);                           \
  }
TERN_DEFINE_GEMV(gemv_q4_0x8, LegacyX8<BlockQ4_0x8>)
TERN_DEFINE_GEMV(gemv_q4_1x8, LegacyX8<BlockQ4_1x8>)
TERN_DEFINE_GEMV(gemv_q5_0x8, LegacyX8<BlockQ5_0x8>)
TERN_DEFINE_GEMV(gemv_q5_1x8, LegacyX8<BlockQ5_1x8>)
TERN_DEFINE_GEMV(gemv_q8_0x8, Q8_0x8)
TERN_DEFINE_GEMV(gemv_q4_kx8, Q4_Kx8)
TERN_DEFINE_GEMV(gemv_q6_kx8, Q6_Kx8)
#undef TERN_DEFINE_GEMV

}  // namespace tern::TERN_SIMD_NAMESPACE
