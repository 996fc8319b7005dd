// The x86 SIMD body of attention (attention.h), expanded once per level by
// attention_<level>.cpp with TERN_SIMD_NAMESPACE set and that level's flags.
//
// One work item: rows = query heads of one kv head (all of its group, or one when items
// are split for threads; or those of every kv head, decoding several sequences or a long
// context) at a block of tokens. Items of kAttentionMinTileTokens tokens or more run in
// 16-row tiles (x86/attention_tiles.h); the few tokens of a decoding step run here, split
// by split of the keys (job.split_keys from key 0) and within a split for each chunk of
// keys [c0, c1) (in L1; chunks start at multiples of key_chunk, and every score is summed
// in one order, so a row's result is the same in any item):
//   scores [rows, chunk] = scale * Q K^T (soft-capped when the job says so), two rows x
//     four keys per register tile (each K vector loaded once for both rows), -inf outside
//     each row's visible keys;
//   online softmax: new max m', rescale = e^(m - m'), p = e^(s - m'), sum = sum * rescale
//     + sum(p);
//   acc [rows, head_dim_v] = acc * rescale + p V, two rows x 32 values per tile.
// At the end out = acc / sum; with several splits each leaves acc, max and sum in the job's
// partials and attention_merge weighs them. K and V are read in the cache itself: an F16
// cache's values are converted as they are loaded (vcvtph2ps), with no copy.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/attention.h"
#endif

#include <cmath>

#include "backends/cpu/attention.h"
#include "backends/cpu/x86/attention_tiles.h"
#include "backends/cpu/x86/vector_math.h"

namespace tern::cpu::TERN_SIMD_NAMESPACE {

namespace {

// Query rows per register tile: each K and V vector loaded serves both. (Three or four
// rows at AVX512, a whole GQA group of SmolLM2 or the 1B shape, measured slower: in-process
// A/B, Zen 4, F16 cache from DRAM, 4 sequences 9-19% and one 1B sequence at depth 4096 7%;
// docs/benchmarks.md, issue #18.)
//
// The tile and step functions below are always inlined into attend_rows: left to GCC, a
// third row count's instantiations made it call them (a call per 4 keys, the tiles'
// sums through memory), which slowed the unchanged 1- and 2-row paths by 10-20%.
constexpr int64_t kTileRows = 2;
constexpr int64_t kTileKeys = 4;  // keys per score tile
constexpr int64_t kTileVecs = 4;  // output vectors (32 values) per accumulation tile

// At AVX2, rows that come in whole groups of three (SmolLM2's 9 query heads over 3 kv heads)
// take tiles of three: each K and V vector is converted (vcvtph2ps, one a cycle on Zen 3)
// once per key for the group instead of once for 2 rows and again for 1. Tiles of 3 rows x 3
// keys (9 sums) and 3 rows x 3 vectors (9 sums) keep the 16 registers; 3 x 4 spilled.
// A temporary in-process A/B over bench_kernels' attention_decode shapes (the two forms
// iteration by iteration), F16, Zen 3: 135M x4 at 160 0.97x the time, one sequence at 160
// 0.93-0.95x, at 4096 0.92-0.96x. Not at AVX512, where 3- and 4-row tiles measured slower on Zen 4
// (above); 4 rows x 2 keys for groups of four measured slower here too (1.17-1.22x).
#if defined(__AVX512F__)
constexpr bool kTilesOfThree = false;
#else
constexpr bool kTilesOfThree = true;
#endif
// Whether scores() also requests a chunk further ahead into L2, and takes its per-kv-head
// requests for items of whole rows too: at AVX512, as measured on Zen 4 and Zen 5; at AVX2,
// measured on an AVX2-only Zen 3, neither (see scores()).
#if defined(__AVX512F__)
constexpr bool kFarRequests = true;
#else
constexpr bool kFarRequests = false;
#endif
// Keys per score tile of kRows rows.
template <int64_t kRows>
constexpr int64_t kScoreKeys = kRows == 3 ? 3 : kTileKeys;

int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// Eight cache values as floats: F32 as they are, F16 converted on the way (vcvtph2ps).
__m256 load8(const float* p) { return _mm256_loadu_ps(p); }
__m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// The first n < 8 of them and zeros (never reads past p + n).
__m256 load8_part(const float* p, int64_t n) { return load_part(p, n); }
__m256 load8_part(const uint16_t* p, int64_t n) {
  alignas(16) uint16_t part[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) part[i] = p[i];
  return load8(part);
}

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// [sum a, sum b, sum c, sum d]
__m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// Keys [begin, end) (end <= begin: none).
struct Span {
  int64_t begin, end;
  bool empty() const { return end <= begin; }
};

// One work item: where its rows live and its scratch.
struct Item {
  const AttentionJob& job;
  int64_t kv, h0, n_heads, t0, n_rows;  // query heads [h0, h0 + n_heads) of the group
  int64_t acc_stride;                   // head_dim_v rounded up to 8
  float* scores;   // [n_rows, key_chunk]; p = e^(s - max) after the softmax step
  float* acc;      // [n_rows, acc_stride] un-normalized outputs
  float* max;      // [n_rows] running max of the row's scores
  float* sum;      // [n_rows] running sum of e^(score - max)
  float* rescale;  // [n_rows] this chunk's factor for acc: e^(old max - new max)
  Span used;       // the part of every score row this chunk uses: from the first key any
                   // row sees to the last, in whole vectors (offsets into the row)
  Span split;      // the keys of the split being computed
  int64_t last;    // the end of the item's last split: prefetches stop there
  int64_t kv_index;   // kv - the item's first kv head
  bool row_requests;  // scores() requests whole rows in order (see there)

  int64_t token(int64_t r) const { return t0 + r / n_heads; }
  int64_t head(int64_t r) const { return kv * job.group + h0 + r % n_heads; }
  const float* q_row(int64_t r) const {
    return job.q + token(r) * job.q_stride + head(r) * job.head_dim_k;
  }
  // Key j's K (V) row of the kv head in the cache, of T (float or F16 bits).
  template <class T>
  const T* k_row(int64_t j) const {
    return static_cast<const T*>(job.k) + j * job.k_stride + kv * job.head_dim_k;
  }
  template <class T>
  const T* v_row(int64_t j) const {
    return static_cast<const T*>(job.v) + j * job.v_stride + kv * job.head_dim_v;
  }
  float* out_row(int64_t r) const {
    return job.out + token(r) * job.o_stride + head(r) * job.head_dim_v;
  }
  float* score_row(int64_t r) const { return scores + r * job.key_chunk; }
  float* acc_row(int64_t r) const { return acc + r * acc_stride; }
  // The keys row r sees: position p = pos0 + token sees p - window < j <= p (not causal:
  // the segment's every key).
  Span visible(int64_t r) const {
    int64_t end = attention_key_end(job, token(r));
    return {job.window > 0 ? max64(0, end - job.window) : 0, end};
  }
  Span visible_in(int64_t r, Span chunk) const {
    Span s = visible(r);
    return {max64(s.begin, chunk.begin), min64(s.end, chunk.end)};
  }
  // The union of rows [r, r + n)'s visible keys in the chunk (contiguous: consecutive
  // rows' spans overlap or touch).
  Span visible_in(int64_t r, int64_t n, Span chunk) const {
    Span u{chunk.end, chunk.begin};
    for (int64_t i = r; i < r + n; ++i) {
      Span s = visible_in(i, chunk);
      if (s.empty()) continue;
      u = {min64(u.begin, s.begin), max64(u.end, s.end)};
    }
    return u;
  }
};

// acc[i][x] += q_i[d, d + 8) . k_x[d, d + 8) for kRows rows and kKeys keys; the first
// n < 8 values only where n is given (a head size that is not a multiple of 8).
template <int64_t kRows, int64_t kKeys, class T>
void dot_step(__m256 (&acc)[kRows][kKeys], const float* const (&q)[kRows],
              const T* const (&k)[kKeys], int64_t d, int64_t n = kLanes) {
  __m256 kv[kKeys];
  for (int64_t x = 0; x < kKeys; ++x)
    kv[x] = n == kLanes ? load8(k[x] + d) : load8_part(k[x] + d, n);
  for (int64_t i = 0; i < kRows; ++i) {
    __m256 qv = n == kLanes ? _mm256_loadu_ps(q[i] + d) : load_part(q[i] + d, n);
    for (int64_t x = 0; x < kKeys; ++x) acc[i][x] = _mm256_fmadd_ps(qv, kv[x], acc[i][x]);
  }
}

// scores[r + i][j + x - c0] = scale * q_{r+i} . k_{j+x} for kRows rows and kKeys keys.
template <class T, int64_t kRows, int64_t kKeys>
[[gnu::always_inline]] inline void score_tile(const Item& it, int64_t r, int64_t j, int64_t c0) {
  const int64_t dim = it.job.head_dim_k;
  const float* q[kRows];
  const T* k[kKeys];
  __m256 acc[kRows][kKeys];
  for (int64_t i = 0; i < kRows; ++i) q[i] = it.q_row(r + i);
  for (int64_t x = 0; x < kKeys; ++x) k[x] = it.k_row<T>(j + x);
  for (int64_t i = 0; i < kRows; ++i) {
    for (int64_t x = 0; x < kKeys; ++x) acc[i][x] = _mm256_setzero_ps();
  }
  int64_t d = 0;
  for (; d + kLanes <= dim; d += kLanes) dot_step<kRows, kKeys>(acc, q, k, d);
  if (d < dim) dot_step<kRows, kKeys>(acc, q, k, d, dim - d);
  const __m128 scale = _mm_set1_ps(it.job.scale);
  for (int64_t i = 0; i < kRows; ++i) {
    float* out = it.score_row(r + i) + (j - c0);
    if constexpr (kKeys == 4) {
      _mm_storeu_ps(out, _mm_mul_ps(hsum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), scale));
    } else if constexpr (kKeys == 3) {  // three stores: a fourth would reach the next row
      const __m128 h = _mm_mul_ps(hsum4(acc[i][0], acc[i][1], acc[i][2], acc[i][2]), scale);
      _mm_storel_pi(reinterpret_cast<__m64*>(out), h);
      _mm_store_ss(out + 2, _mm_movehl_ps(h, h));
    } else {  // hsum4's order of additions, whichever tile a key falls in
      for (int64_t x = 0; x < kKeys; ++x) {
        out[x] = _mm_cvtss_f32(hsum4(acc[i][x], acc[i][x], acc[i][x], acc[i][x])) * it.job.scale;
      }
    }
    if (it.job.softcap > 0.0f)
      store_part(out, soft_cap8(load_part(out, kKeys), it.job.softcap), kKeys);
  }
}

void fill(float* p, int64_t n, float value) {
  for (int64_t i = 0; i < n; ++i) p[i] = value;
}

// `lines` cache lines from p requested into L1 (_MM_HINT_T0) or L2 (_MM_HINT_T2).
template <int kHint>
[[gnu::always_inline]] inline void prefetch_lines(const void* p, int64_t lines) {
  for (int64_t l = 0; l < lines; ++l) {
    _mm_prefetch(static_cast<const char*>(p) + 64 * l, static_cast<_mm_hint>(kHint));
  }
}

// Scores of rows [r, r + kRows) against the keys of the chunk they see; -inf elsewhere
// in the used part of their score rows.
// The item's first row tile also prefetches, as it scores keys j.., the V rows of those
// keys (this chunk's accumulation reads them next) and the K rows one chunk on (the next
// chunk's scores), so the requests spread over the chunk: a decoding step finds its cache
// in memory (the weights streamed through since the layer's last step), and the rows'
// stride (768 bytes for SmolLM2) left the hardware prefetchers behind (bench_kernels
// attention_decode/1b_*, Zen 5, alternating: 4096 positions F32 14-20 -> 12-14 ms, F16 12-19
// -> 8-9; 256 x 4 sequences F32 3.5-3.9 -> 3.0-3.4, F16 2.7-3.4 -> 1.6-1.8). Where the
// cache stays in L3 they only cost (attention_135m/avx512/1/4096, one layer: 0.19-0.20 ->
// 0.22 ms). Items of one row (query heads split for threads) skip it: several share a kv
// head's rows. Written inline: as a function of its own, GCC found it free of effects and
// dropped the call. Since a chunk further ahead goes into L2 as well (the next chunk's V
// rows, K rows two chunks on), as the decode kernels' weights do (x86/repack.h): Zen 4,
// alternating runs, F16 cache: 1b 4096 x1 11.8-14.2 -> 9.2-10.7 ms (AVX2 13.1-14.0 ->
// 9.0-10.8), 1b 256 x4 2.91-3.09 -> 2.62-2.83 (AVX2, F32 4.75-5.15 -> 3.65-4.00), 135m
// within noise; the 1B Q4_K_M file at depth 4096, `--profile`: 13.1-15.4 -> 10.2-11.1 ms a
// token of attention.
// At AVX2, an item of every kv head (whole cache rows) with chunks of 32 keys or more
// instead requests the next chunk's K and V rows whole, in address order, one kv head's
// share of a row per key scored, and nothing further ahead: on an AVX2-only Zen 3 the
// requests above, a few lines here and there, stalled on the core's miss buffers (their
// prefetch instructions held 13% of the samples) while half as many in order let the
// hardware stream the rest (the in-process A/B of kTilesOfThree, F16: 135M x4 at 160 0.88-0.90x the
// time, one sequence at 4096 0.80-0.86x, 1B 256 x4 0.84-0.86x, 1B at 4096 0.72-0.78x; the L2
// requests two chunks on as well: 1.05-1.10x). Gemma 3's head size 256 (chunks of 16 keys) measured
// 0.94-1.08x, one chunk or 64 keys ahead, so it keeps the requests above, as do items of one kv
// head; at AVX2 without those into L2 (the same A/B: Gemma 3 270M's shape 0.88-0.92x, 135M and 1B
// one sequence at 160-256 positions 0.92-0.95x).
template <class T, int64_t kRows>
[[gnu::always_inline]] inline void scores(const Item& it, int64_t r, Span chunk) {
  Span u = it.visible_in(r, kRows, chunk);
  int64_t j = u.begin;
  const bool fetch_ahead = r == 0 && it.n_rows > 1;
  // No K row past the item's keys.
  const int64_t last_key = min64(it.visible(it.n_rows - 1).end, it.last);
  const int64_t k_lines = it.job.head_dim_k * int64_t{sizeof(T)} / 64;
  const int64_t v_lines = it.job.head_dim_v * int64_t{sizeof(T)} / 64;
  constexpr int64_t kKeys = kScoreKeys<kRows>;
  const int64_t c = it.job.key_chunk;
  // Whole-row requests: key x of the item's i-th kv head requests bytes [(i c + x - c0) s,
  // + s) of the next chunk's rows, s being one kv head's share of a row (K and V apart:
  // their sizes may differ).
  const int64_t next = chunk.begin + c, next_keys = min64(next + c, last_key) - next;
  const auto* next_k =
      reinterpret_cast<const char*>(static_cast<const T*>(it.job.k) + next * it.job.k_stride);
  const auto* next_v =
      reinterpret_cast<const char*>(static_cast<const T*>(it.job.v) + next * it.job.v_stride);
  const int64_t k_share = it.job.head_dim_k * int64_t{sizeof(T)};
  const int64_t v_share = it.job.head_dim_v * int64_t{sizeof(T)};
  const int64_t k_bytes = next_keys * it.job.k_stride * int64_t{sizeof(T)};
  const int64_t v_bytes = next_keys * it.job.v_stride * int64_t{sizeof(T)};
  for (; j + kKeys <= u.end; j += kKeys) {
    if (fetch_ahead && it.row_requests) {
      const int64_t at = it.kv_index * c + (j - chunk.begin);
      const int64_t k_end = min64(k_bytes, (at + kKeys) * k_share);
      const int64_t v_end = min64(v_bytes, (at + kKeys) * v_share);
      for (int64_t b = at * k_share; b < k_end; b += 64) _mm_prefetch(next_k + b, _MM_HINT_T0);
      for (int64_t b = at * v_share; b < v_end; b += 64) _mm_prefetch(next_v + b, _MM_HINT_T0);
    } else if (fetch_ahead) {
      for (int64_t x = j; x < j + kKeys; ++x) {
        prefetch_lines<_MM_HINT_T0>(it.v_row<T>(x), v_lines);
        if (x + c < last_key) prefetch_lines<_MM_HINT_T0>(it.k_row<T>(x + c), k_lines);
        if constexpr (kFarRequests) {
          if (x + c < last_key) prefetch_lines<_MM_HINT_T2>(it.v_row<T>(x + c), v_lines);
          if (x + 2 * c < last_key) prefetch_lines<_MM_HINT_T2>(it.k_row<T>(x + 2 * c), k_lines);
        }
      }
    }
    score_tile<T, kRows, kKeys>(it, r, j, chunk.begin);
  }
  for (; j < u.end; ++j) score_tile<T, kRows, 1>(it, r, j, chunk.begin);
  for (int64_t i = r; i < r + kRows; ++i) {
    Span s = it.visible_in(i, chunk);
    float* row = it.score_row(i);
    const Span used = it.used;
    if (s.empty()) {
      fill(row + used.begin, used.end - used.begin, -INFINITY);
      continue;
    }
    fill(row + used.begin, s.begin - chunk.begin - used.begin, -INFINITY);
    fill(row + (s.end - chunk.begin), used.end - (s.end - chunk.begin), -INFINITY);
  }
}

// Turns row r's scores into p = e^(s - max') over the chunk's used part (the rest of the
// row is -inf, p = 0: skipping it changes no sum) and updates its max, sum and rescale.
// The scores were stored 4 at a time: each vector is read as its two halves, which the
// stores forward to (one 8-wide load over two 4-wide stores waits for both to reach the
// cache).
void softmax_step(const Item& it, int64_t r, Span chunk) {
  float* row = it.score_row(r);
  const Span used = it.used;  // whole vectors
  if (it.visible_in(r, chunk).empty()) {
    fill(row + used.begin, used.end - used.begin, 0.0f);
    it.rescale[r] = 1.0f;
    return;
  }
  __m256 m = _mm256_set1_ps(-INFINITY);
  for (int64_t j = used.begin; j < used.end; j += kLanes)
    m = _mm256_max_ps(m, _mm256_loadu2_m128(row + j + 4, row + j));
  float new_max = it.max[r] > hmax(m) ? it.max[r] : hmax(m);
  __m256 shift = _mm256_set1_ps(new_max);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t j = used.begin; j < used.end; j += kLanes) {
    __m256 p = exp8(_mm256_sub_ps(_mm256_loadu2_m128(row + j + 4, row + j), shift));
    _mm256_storeu_ps(row + j, p);
    sum = _mm256_add_ps(sum, p);
  }
  // e^(-inf) = 0 on the first chunk: acc and sum start at 0 anyway.
  float rescale = _mm256_cvtss_f32(exp8(_mm256_set1_ps(it.max[r] - new_max)));
  it.rescale[r] = rescale;
  it.sum[r] = it.sum[r] * rescale + hsum(sum);
  it.max[r] = new_max;
}

// The accumulation's vectors: 8 floats (__m256) at every level, and 16 (__m512) at AVX512,
// whose conversions and multiply-adds Zen 5 runs at full width: a tile of 64 values does
// the work of two 8-wide ones in half the instructions (bench_kernels attention_decode, F16,
// Zen 5, eight alternating rounds, medians: 135m 1 sequence 0.77 -> 0.68 ms, 4 sequences
// 3.52 -> 3.36; 1b 256 x4 1.81 -> 1.66, 4096 x1 7.99 -> 7.77).
struct Vec8 {
  using V = __m256;
  static constexpr int64_t kN = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load(const uint16_t* p) { return load8(p); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
};
#if defined(__AVX512F__)
struct Vec16 {
  using V = __m512;
  static constexpr int64_t kN = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load(const uint16_t* p) {
    return _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
};
using WideVec = Vec16;
#else
using WideVec = Vec8;
#endif

// acc[r + i][d, d + kVecs W::kN) = acc * rescale + sum_j p[r + i][j] v_j[d, ...) over keys
// u. With kPartial (8-wide, kVecs 1), only the head's last dim - d < 8 values of v are read.
template <class T, int64_t kRows, int64_t kVecs, class W = Vec8, bool kPartial = false>
[[gnu::always_inline]] inline void accumulate_tile(const Item& it, int64_t r, int64_t d, Span u,
                                                   int64_t c0) {
  typename W::V acc[kRows][kVecs];
  const float* p[kRows];
  for (int64_t i = 0; i < kRows; ++i) {
    typename W::V rescale = W::set1(it.rescale[r + i]);
    for (int64_t x = 0; x < kVecs; ++x) {
      acc[i][x] = W::mul(W::load(it.acc_row(r + i) + d + x * W::kN), rescale);
    }
    p[i] = it.score_row(r + i) + (u.begin - c0);
  }
  const int64_t tail = it.job.head_dim_v - d;
  const int64_t stride = it.job.v_stride;
  const T* v = it.v_row<T>(u.begin) + d;
  for (int64_t n = u.end - u.begin; n > 0; --n, v += stride) {
    typename W::V vv[kVecs];
    for (int64_t x = 0; x < kVecs; ++x) {
      if constexpr (kPartial) {
        vv[x] = load8_part(v, tail);
      } else {
        vv[x] = W::load(v + x * W::kN);
      }
    }
    for (int64_t i = 0; i < kRows; ++i) {
      typename W::V w = W::set1(*p[i]++);
      for (int64_t x = 0; x < kVecs; ++x) acc[i][x] = W::fmadd(w, vv[x], acc[i][x]);
    }
  }
  for (int64_t i = 0; i < kRows; ++i) {
    for (int64_t x = 0; x < kVecs; ++x) W::store(it.acc_row(r + i) + d + x * W::kN, acc[i][x]);
  }
}

// acc of rows [r, r + kRows) += their p V over the chunk, every output value: tiles of
// kTileVecs wide vectors, then of 8-wide ones.
template <class T, int64_t kRows>
[[gnu::always_inline]] inline void accumulate(const Item& it, int64_t r, Span chunk) {
  Span u = it.visible_in(r, kRows, chunk);
  if (u.empty()) return;  // rescale is 1 for rows without keys here
  const int64_t dim = it.job.head_dim_v;
  int64_t d = 0;
  if constexpr (kRows == 3) {  // 9 sums a tile (kTilesOfThree)
    for (; d + 3 * kLanes <= dim; d += 3 * kLanes) {
      accumulate_tile<T, kRows, 3>(it, r, d, u, chunk.begin);
    }
    if (d + 2 * kLanes <= dim) {
      accumulate_tile<T, kRows, 2>(it, r, d, u, chunk.begin);
      d += 2 * kLanes;
    }
  }
  for (; d + kTileVecs * WideVec::kN <= dim; d += kTileVecs * WideVec::kN) {
    accumulate_tile<T, kRows, kTileVecs, WideVec>(it, r, d, u, chunk.begin);
  }
  for (; d + kTileVecs * kLanes <= dim; d += kTileVecs * kLanes) {
    accumulate_tile<T, kRows, kTileVecs>(it, r, d, u, chunk.begin);
  }
  for (; d + kLanes <= dim; d += kLanes) accumulate_tile<T, kRows, 1>(it, r, d, u, chunk.begin);
  if (d < dim) accumulate_tile<T, kRows, 1, Vec8, true>(it, r, d, u, chunk.begin);
}

// step.template operator()<k>(r) over rows [r, n_rows) in tiles of kRows rows, the rest in
// smaller tiles.
template <int64_t kRows, class Step>
[[gnu::always_inline]] inline void for_row_tiles(int64_t r, int64_t n_rows, const Step& step) {
  for (; r + kRows <= n_rows; r += kRows) step.template operator()<kRows>(r);
  if constexpr (kRows > 1) {
    if (r < n_rows) for_row_tiles<kRows - 1>(r, n_rows, step);
  }
}

// step over an item's n_rows rows in tiles of three where they come in threes
// (kTilesOfThree), else of kTileRows.
template <class Step>
[[gnu::always_inline]] inline void for_item_tiles(int64_t n_rows, const Step& step) {
  if constexpr (kTilesOfThree) {
    if (n_rows % 3 == 0) return for_row_tiles<3>(0, n_rows, step);
  }
  for_row_tiles<kTileRows>(0, n_rows, step);
}

void start(const Item& it) {
  fill(it.acc, it.n_rows * it.acc_stride, 0.0f);
  fill(it.max, it.n_rows, -INFINITY);
  fill(it.sum, it.n_rows, 0.0f);
}

// out = acc / sum for every row (the sum with the row's sink, if any).
void finish(const Item& it) {
  const int64_t dim = it.job.head_dim_v;
  for (int64_t r = 0; r < it.n_rows; ++r) {
    __m256 inv =
        _mm256_set1_ps(1.0f / attention_denominator(it.job, it.head(r), it.max[r], it.sum[r]));
    const float* acc = it.acc_row(r);
    float* out = it.out_row(r);
    for (int64_t d = 0; d < dim; d += kLanes) {
      store_part(out + d, _mm256_mul_ps(_mm256_loadu_ps(acc + d), inv), dim - d);
    }
  }
}

// Kv head `kv`'s rows of a few-token item, with their part of its scratch.
Item item_rows(const AttentionJob& job, const AttentionItem& item, int64_t kv, int64_t split) {
  const int64_t n_heads = item.h1 - item.h0;
  const int64_t n_rows = (item.t1 - item.t0) * n_heads;
  const int64_t acc_stride = (job.head_dim_v + kLanes - 1) / kLanes * kLanes;
  float* scratch =
      item.scratch + (kv - item.kv) * attention_scratch_floats(job, item.t1 - item.t0, n_heads);
  return {job,
          kv,
          item.h0,
          n_heads,
          item.t0,
          n_rows,
          acc_stride,
          scratch,
          scratch + n_rows * job.key_chunk,
          scratch + n_rows * (job.key_chunk + acc_stride),
          scratch + n_rows * (job.key_chunk + acc_stride + 1),
          scratch + n_rows * (job.key_chunk + acc_stride + 2),
          {},
          job.n_splits > 1 ? Span{split * job.split_keys, (split + 1) * job.split_keys}
                           : Span{0, INT64_MAX},
          job.n_splits > 1 ? item.split1 * job.split_keys : INT64_MAX,
          kv - item.kv,
          !kFarRequests && job.key_chunk >= 32 &&
              (item.kv1 - item.kv) * job.head_dim_k == job.k_stride};
}

// The rows' results for their split: acc, max and sum into the job's partials.
void store_partials(const Item& it, int64_t split) {
  const AttentionJob& job = it.job;
  for (int64_t r = 0; r < it.n_rows; ++r) {
    float* p = attention_partial(job, it.token(r), it.head(r), split);
    const float* acc = it.acc_row(r);
    for (int64_t d = 0; d < job.head_dim_v; ++d) p[d] = acc[d];
    p[job.head_dim_v] = it.max[r];
    p[job.head_dim_v + 1] = it.sum[r];
  }
}

// The rows of a few tokens, chunk by chunk, reading the cache's T values in place. An item
// of several kv heads takes each chunk's keys for every kv head in turn: it reads whole
// cache rows front to back, which the hardware prefetchers follow where one kv head's
// slice of every row (128 of 384 bytes for SmolLM2) left them behind.
template <class T>
void attend_rows(const AttentionJob& job, const AttentionItem& item, int64_t split) {
  const Item first = item_rows(job, item, item.kv, split);
  const int64_t n_rows = first.n_rows;
  for (int64_t kv = item.kv; kv < item.kv1; ++kv) start(item_rows(job, item, kv, split));
  // Keys of the split seen by any row: from the first row's first to the last row's last,
  // in chunks at multiples of key_chunk (where a row alone would have its chunks).
  Span keys{max64(first.visible(0).begin, first.split.begin),
            min64(first.visible(n_rows - 1).end, first.split.end)};
  // The scores prefetch a chunk ahead (scores()); the first chunk's rows, which nothing
  // fetched, are requested here all at once rather than missed one by one (a decoding step's
  // item sees a few hundred keys, so one chunk in three for SmolLM2 at depth 160). Rows of
  // every kv head of the item: whole rows. bench_kernels attention_decode, Zen 5, F16, five
  // alternating rounds: 135m x4 2.93-3.60 -> 2.43-2.67 ms, 1b 256 x4 1.46-1.72 -> 1.38-1.57.
  if (n_rows > 1) {
    const int64_t k_lines = (item.kv1 - item.kv) * job.head_dim_k * int64_t{sizeof(T)} / 64;
    const int64_t v_lines = (item.kv1 - item.kv) * job.head_dim_v * int64_t{sizeof(T)} / 64;
    const int64_t c1 = min64(keys.end, (keys.begin / job.key_chunk + 1) * job.key_chunk);
    for (int64_t j = keys.begin; j < c1; ++j)
      prefetch_lines<_MM_HINT_T0>(first.k_row<T>(j), k_lines);
    for (int64_t j = keys.begin; j < c1; ++j)
      prefetch_lines<_MM_HINT_T2>(first.v_row<T>(j), v_lines);
  }
  for (int64_t c0 = keys.begin / job.key_chunk * job.key_chunk; c0 < keys.end;
       c0 += job.key_chunk) {
    Span chunk{c0, min64(c0 + job.key_chunk, keys.end)};
    const Span all = first.visible_in(0, n_rows, chunk);
    for (int64_t kv = item.kv; kv < item.kv1; ++kv) {
      Item it = item_rows(job, item, kv, split);
      it.used = {(all.begin - c0) / kLanes * kLanes,
                 min64(job.key_chunk, (all.end - c0 + kLanes - 1) / kLanes * kLanes)};
      for_item_tiles(n_rows, [&]<int64_t kRows>(int64_t r) { scores<T, kRows>(it, r, chunk); });
      for (int64_t r = 0; r < n_rows; ++r) softmax_step(it, r, chunk);
      for_item_tiles(n_rows, [&]<int64_t kRows>(int64_t r) { accumulate<T, kRows>(it, r, chunk); });
    }
  }
  for (int64_t kv = item.kv; kv < item.kv1; ++kv) {
    if (job.n_splits > 1) {
      store_partials(item_rows(job, item, kv, split), split);
    } else {
      finish(item_rows(job, item, kv, split));
    }
  }
}

}  // namespace

void attention_item(const AttentionJob& job, const AttentionItem& item) {
  if (item.t1 - item.t0 >= kAttentionMinTileTokens) {  // one kv head (attention_tiles.h)
    attention_tiles(job, item, item.scratch);
    return;
  }
  for (int64_t split = item.split0; split < item.split1; ++split) {
    if (job.f16) {
      attend_rows<uint16_t>(job, item, split);
    } else {
      attend_rows<float>(job, item, split);
    }
  }
  if (job.n_splits > 1 && item.merge) {
    for (int64_t t = item.t0; t < item.t1; ++t) attention_merge(job, t);
  }
}

// Each head's row of token t: its splits' partial results (those of the keys it sees)
// weighted by e^(max - the largest max), summed in split order, divided by the same sum of
// their sums (and the sink). One split gives finish()'s bits: its weight is exactly 1.
void attention_merge(const AttentionJob& job, int64_t t) {
  const int64_t n_head = job.q_stride / job.head_dim_k;
  const int64_t dim = job.head_dim_v;
  const int64_t stride = attention_partial_floats(job);
  const auto [s0, s1] = attention_split_range(job, t, t + 1);
  for (int64_t h = 0; h < n_head; ++h) {
    const float* p = attention_partial(job, t, h, 0);
    float max = -INFINITY;
    for (int64_t s = s0; s < s1; ++s) max = max > p[s * stride + dim] ? max : p[s * stride + dim];
    float sum = 0.0f;
    float* out = job.out + t * job.o_stride + h * dim;
    for (int64_t d = 0; d < dim; ++d) out[d] = 0.0f;
    for (int64_t s = s0; s < s1; ++s) {
      const float* part = p + s * stride;
      const float w = std::exp(part[dim] - max);
      sum += part[dim + 1] * w;
      const __m256 wv = _mm256_set1_ps(w);
      for (int64_t d = 0; d < dim; d += kLanes) {
        store_part(out + d,
                   _mm256_add_ps(load_part(out + d, dim - d),
                                 _mm256_mul_ps(load_part(part + d, dim - d), wv)),
                   dim - d);
      }
    }
    const __m256 inv = _mm256_set1_ps(1.0f / attention_denominator(job, h, max, sum));
    for (int64_t d = 0; d < dim; d += kLanes) {
      store_part(out + d, _mm256_mul_ps(load_part(out + d, dim - d), inv), dim - d);
    }
  }
}

}  // namespace tern::cpu::TERN_SIMD_NAMESPACE
