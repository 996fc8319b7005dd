// The tiled x86 SIMD attention body (attention.h) for work items with many rows (prompts),
// expanded once per level by x86/attention.h. Its rows are taken 16 at a time, one row
// per vector lane (two vectors), with everything kept transposed so no step needs a
// horizontal reduction or a broadcast of a score:
//   q^T [head_dim_k, 16], gathered once per tile;
//   per chunk of kTileChunk keys: s^T [key, 16] = q^T . k_j, each k_j[d] broadcast
//     against both row vectors (4 keys x 2 vectors of registers per step), -inf only in
//     the steps where some row's visible span starts or ends; the chunk's max per row is
//     kept in registers beside them;
//   online softmax in one pass over s^T: m' = max(m, chunk max), f = e^(m - m'),
//     p = e^(s - m') in place, l = l f + sum p (per lane, so per row);
//   acc^T [head_dim_v, 16] = acc^T f + sum_j v_j[d] p_j, 4 output values x 2 vectors of
//     registers, each p_j loaded once per 4 values.
// At the end out = acc^T / l, scattered back to the rows. Keys past the tile's last
// visible key are never visited (a causal block stops at its last query). An item's tiles
// (a group's heads x 16 tokens) take each key chunk in turn, so an F16 cache's chunk is
// converted once for all of them: bench_kernels attention_135m/*/512/0/1 (Zen 5, one
// thread, three alternating rounds) avx512 2.24-2.33 -> 2.01-2.08 ms, avx2 3.20-3.58 ->
// 3.03-3.25; F32 caches unchanged.
#ifndef TERN_SIMD_NAMESPACE
#error "define TERN_SIMD_NAMESPACE before including x86/attention_tiles.h"
#endif
// Once per translation unit (each expands one level).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "backends/cpu/attention.h"
#include "backends/cpu/x86/vector_math.h"

namespace tern::cpu::TERN_SIMD_NAMESPACE {

namespace {

constexpr int64_t kTileLanes = kAttentionTileRows;  // rows per tile: two vectors
constexpr int64_t kTileChunk = kAttentionTileKeys;  // keys per softmax chunk
static_assert(kTileLanes == 2 * kLanes);
constexpr int64_t kStepKeys = 6;  // keys per score step
constexpr int64_t kStepDims = 6;  // output values per accumulation step

// cap * tanh(x / cap) per lane (cap > 0), with tanh(u) = 1 - 2 / (e^2u + 1): e^2u = inf
// gives 1, e^2u = 0 gives -1. Near 0 the error is absolute (a few 1e-8 of cap), which is
// what a softmax over the result sees.
__m256 soft_cap8(__m256 x, float cap) {
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 e = exp8(_mm256_mul_ps(x, _mm256_set1_ps(2.0f / cap)));
  __m256 th = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  return _mm256_mul_ps(th, _mm256_set1_ps(cap));  // cap * tanh
}

// Where a work item reads its kv head's K and V rows for one chunk of keys: in the cache
// itself (F32), or converted into staging (F16 caches; rows of head_dim floats).
struct KvRows {
  const float* k;
  const float* v;
  int64_t k_stride, v_stride;
  int64_t origin;  // the key of the first row
  const float* k_row(int64_t j) const { return k + (j - origin) * k_stride; }
  const float* v_row(int64_t j) const { return v + (j - origin) * v_stride; }
};

// n F16 values to floats.
void f16_row_to_f32(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

// Kv head kv's rows of keys [c0, c1); `staging` holds attention_staging_floats(job,
// c1 - c0) floats.
KvRows kv_rows(const AttentionJob& job, int64_t kv, int64_t c0, int64_t c1, float* staging) {
  const int64_t dk = job.head_dim_k, dv = job.head_dim_v;
  if (!job.f16) {
    return {static_cast<const float*>(job.k) + kv * dk, static_cast<const float*>(job.v) + kv * dv,
            job.k_stride, job.v_stride, 0};
  }
  float* k = staging;
  float* v = staging + (c1 - c0) * dk;
  const auto* k16 = static_cast<const uint16_t*>(job.k) + kv * dk;
  const auto* v16 = static_cast<const uint16_t*>(job.v) + kv * dv;
  for (int64_t j = c0; j < c1; ++j) {
    f16_row_to_f32(k16 + j * job.k_stride, dk, k + (j - c0) * dk);
    f16_row_to_f32(v16 + j * job.v_stride, dv, v + (j - c0) * dv);
  }
  return {k, v, dk, dv, c0};
}

// A tile's 16 rows, one per lane: one 512-bit vector at the AVX512 level, two 256-bit ones
// (lanes [0, 8) and [8, 16)) at AVX2. Each lane sees the same operations either way, so
// both give the same bits; 512 bits take half the instructions (the 135M Q8_0 file's pp512
// spent 24% of its time here on the AMX VM). Zero-masked forms at AVX512: GCC 12's plain
// ones start from an undefined vector and fail -Werror.
#if defined(__AVX512F__)
using Part = __m512;
using PartI = __m512i;
constexpr int kParts = 1;
Part part_load(const float* p) { return _mm512_loadu_ps(p); }
void part_store(float* p, Part v) { _mm512_storeu_ps(p, v); }
Part part_set1(float x) { return _mm512_set1_ps(x); }
Part part_fmadd(Part a, Part b, Part c) { return _mm512_fmadd_ps(a, b, c); }
Part part_mul(Part a, Part b) { return _mm512_mul_ps(a, b); }
Part part_add(Part a, Part b) { return _mm512_add_ps(a, b); }
Part part_sub(Part a, Part b) { return _mm512_sub_ps(a, b); }
Part part_max(Part a, Part b) { return _mm512_maskz_max_ps(0xffff, a, b); }
Part part_div(Part a, Part b) { return _mm512_maskz_div_ps(0xffff, a, b); }
Part part_exp(Part x) { return exp16(x); }
PartI part_load_int(const int* p) { return _mm512_loadu_si512(p); }
// -inf in the lanes whose row does not see key j (begin <= j < end).
Part part_mask_key(Part s, PartI begin, PartI end, int64_t j) {
  const __m512i jv = _mm512_set1_epi32(static_cast<int>(j));
  const __mmask16 seen = _mm512_cmpgt_epi32_mask(end, jv) & ~_mm512_cmpgt_epi32_mask(begin, jv);
  return _mm512_mask_blend_ps(seen, _mm512_set1_ps(-INFINITY), s);
}
// 0 in the lanes that are -inf.
Part part_zero_if_neg_inf(Part x) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ), x,
                              _mm512_setzero_ps());
}
#else
using Part = __m256;
using PartI = __m256i;
constexpr int kParts = 2;
Part part_load(const float* p) { return _mm256_loadu_ps(p); }
void part_store(float* p, Part v) { _mm256_storeu_ps(p, v); }
Part part_set1(float x) { return _mm256_set1_ps(x); }
Part part_fmadd(Part a, Part b, Part c) { return _mm256_fmadd_ps(a, b, c); }
Part part_mul(Part a, Part b) { return _mm256_mul_ps(a, b); }
Part part_add(Part a, Part b) { return _mm256_add_ps(a, b); }
Part part_sub(Part a, Part b) { return _mm256_sub_ps(a, b); }
Part part_max(Part a, Part b) { return _mm256_max_ps(a, b); }
Part part_div(Part a, Part b) { return _mm256_div_ps(a, b); }
Part part_exp(Part x) { return exp8(x); }
PartI part_load_int(const int* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
Part part_mask_key(Part s, PartI begin, PartI end, int64_t j) {
  const __m256i jv = _mm256_set1_epi32(static_cast<int>(j));
  __m256i seen = _mm256_andnot_si256(_mm256_cmpgt_epi32(begin, jv), _mm256_cmpgt_epi32(end, jv));
  return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), s, _mm256_castsi256_ps(seen));
}
Part part_zero_if_neg_inf(Part x) {
  return _mm256_blendv_ps(x, _mm256_setzero_ps(),
                          _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ));
}
#endif
constexpr int64_t kPartLanes = kTileLanes / kParts;

// soft_cap8 on every lane (by halves at AVX512: soft caps are rare, one formula is enough).
Part part_soft_cap(Part x, float cap) {
#if defined(__AVX512F__)
  const __m256 lo =
      soft_cap8(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0x0f, _mm512_castps_pd(x), 0)), cap);
  const __m256 hi =
      soft_cap8(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0x0f, _mm512_castps_pd(x), 1)), cap);
  return _mm512_castpd_ps(_mm512_maskz_insertf64x4(
      0xff, _mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
#else
  return soft_cap8(x, cap);
#endif
}

// The tile's rows as parts.
struct Lanes {
  Part v[kParts];
};

struct Tile {
  const AttentionJob* job;
  float* qt;                   // [head_dim_k, 16] queries
  float* s;                    // [kTileChunk, 16] scores, then p
  float* acct;                 // [head_dim_v, 16] un-normalized outputs
  PartI begin[kParts], end[kParts];  // per lane: visible keys [begin, end)
  int64_t all_begin, all_end;  // keys every row of the tile sees
  Lanes max, sum;              // running max and sum of e^(s - max) per row
  KvRows rows;                 // the current chunk's K and V rows

  const float* k_row(int64_t j) const { return rows.k_row(j); }
  const float* v_row(int64_t j) const { return rows.v_row(j); }
};

// Lanes whose row does not see key j become -inf.
void mask_key(const Tile& t, Part (&s)[kParts], int64_t j) {
  for (int h = 0; h < kParts; ++h) s[h] = part_mask_key(s[h], t.begin[h], t.end[h], j);
}

// s^T rows of keys [j, j + kKeys) (chunk from c0); raises chunk_max to their scores.
template <int64_t kKeys>
void score_step(const Tile& t, int64_t j, int64_t c0, Lanes& chunk_max) {
  const float* k[kKeys];
  for (int64_t x = 0; x < kKeys; ++x) k[x] = t.k_row(j + x);
  Part acc[kKeys][kParts];
  for (auto& a : acc)
    for (auto& v : a) v = part_set1(0.0f);
  const float* q = t.qt;
  for (int64_t d = 0; d < t.job->head_dim_k; ++d, q += kTileLanes) {
    Part qd[kParts];
    for (int h = 0; h < kParts; ++h) qd[h] = part_load(q + h * kPartLanes);
    for (int64_t x = 0; x < kKeys; ++x) {
      Part kd = part_set1(k[x][d]);
      for (int h = 0; h < kParts; ++h) acc[x][h] = part_fmadd(qd[h], kd, acc[x][h]);
    }
  }
  const bool all_see = j >= t.all_begin && j + kKeys <= t.all_end;
  const Part scale = part_set1(t.job->scale);
  for (int64_t x = 0; x < kKeys; ++x) {
    // The scale after the dot product, as the reference applies it (folding it into q
    // rounds every score differently from the one-row path decoding takes).
    for (int h = 0; h < kParts; ++h) acc[x][h] = part_mul(acc[x][h], scale);
    if (t.job->softcap > 0.0f) {
      for (int h = 0; h < kParts; ++h) acc[x][h] = part_soft_cap(acc[x][h], t.job->softcap);
    }
    if (!all_see) mask_key(t, acc[x], j + x);
    float* out = t.s + (j + x - c0) * kTileLanes;
    for (int h = 0; h < kParts; ++h) {
      part_store(out + h * kPartLanes, acc[x][h]);
      chunk_max.v[h] = part_max(chunk_max.v[h], acc[x][h]);
    }
  }
}

// Online softmax over the chunk's n scores (one pass); returns acc's factor f.
Lanes softmax_chunk(Tile& t, int64_t n, const Lanes& chunk_max) {
  Lanes f, shift;
  for (int h = 0; h < kParts; ++h) {
    Part new_max = part_max(t.max.v[h], chunk_max.v[h]);
    // A row that has seen no key yet (or an unused lane of the last tile) keeps max -inf:
    // shift by 0 instead (p = 0, f = 0), not by -inf (NaN).
    shift.v[h] = part_zero_if_neg_inf(new_max);
    f.v[h] = part_exp(part_sub(t.max.v[h], shift.v[h]));
    t.max.v[h] = new_max;
  }
  Lanes sum;
  for (int h = 0; h < kParts; ++h) sum.v[h] = part_mul(t.sum.v[h], f.v[h]);
  for (float* s = t.s; s < t.s + n * kTileLanes; s += kTileLanes) {
    for (int h = 0; h < kParts; ++h) {
      Part p = part_exp(part_sub(part_load(s + h * kPartLanes), shift.v[h]));
      part_store(s + h * kPartLanes, p);
      sum.v[h] = part_add(sum.v[h], p);
    }
  }
  t.sum = sum;
  return f;
}

// acc^T rows [d, d + kDims) = acc^T f + sum over the chunk's n keys of v_j[d..] p_j.
template <int64_t kDims>
void accumulate_step(const Tile& t, int64_t d, int64_t c0, int64_t n, const Lanes& f) {
  Part acc[kDims][kParts];
  for (int64_t i = 0; i < kDims; ++i) {
    for (int h = 0; h < kParts; ++h) {
      acc[i][h] = part_mul(part_load(t.acct + (d + i) * kTileLanes + h * kPartLanes), f.v[h]);
    }
  }
  const float* v = t.v_row(c0) + d;
  const float* p = t.s;
  for (int64_t j = 0; j < n; ++j, v += t.rows.v_stride, p += kTileLanes) {
    Part pj[kParts];
    for (int h = 0; h < kParts; ++h) pj[h] = part_load(p + h * kPartLanes);
    for (int64_t i = 0; i < kDims; ++i) {
      Part vd = part_set1(v[i]);
      for (int h = 0; h < kParts; ++h) acc[i][h] = part_fmadd(vd, pj[h], acc[i][h]);
    }
  }
  for (int64_t i = 0; i < kDims; ++i) {
    for (int h = 0; h < kParts; ++h)
      part_store(t.acct + (d + i) * kTileLanes + h * kPartLanes, acc[i][h]);
  }
}

// Keys [c0, c1) of the tile: scores, softmax, accumulation.
void tile_chunk(Tile& t, int64_t c0, int64_t c1) {
  Lanes chunk_max;
  for (auto& v : chunk_max.v) v = part_set1(-INFINITY);
  int64_t j = c0;
  for (; j + kStepKeys <= c1; j += kStepKeys) score_step<kStepKeys>(t, j, c0, chunk_max);
  for (; j < c1; ++j) score_step<1>(t, j, c0, chunk_max);
  Lanes f = softmax_chunk(t, c1 - c0, chunk_max);
  int64_t d = 0;
  for (; d + kStepDims <= t.job->head_dim_v; d += kStepDims) {
    accumulate_step<kStepDims>(t, d, c0, c1 - c0, f);
  }
  for (; d + 4 <= t.job->head_dim_v; d += 4) accumulate_step<4>(t, d, c0, c1 - c0, f);
  for (; d < t.job->head_dim_v; ++d) accumulate_step<1>(t, d, c0, c1 - c0, f);
}

// Transposes the 8x8 block r in place: lane j of r[i] goes to lane i of r[j].
void transpose8(__m256 (&r)[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);  // r_i0 r_(i+1)0 r_i1 r_(i+1)1 | 4, 5
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);  // column 0 (and 4) of rows i..i+3
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// out[row][d] = acc^T[d][lane] / sum[lane] for the lanes with a row (rows_out not null),
// eight values of eight rows per transposed block; heads[lane]: the lane's query head,
// whose sink (if the job has sinks) joins the sum.
void write_rows(const Tile& t, float* const (&rows_out)[kTileLanes],
                const int64_t (&heads)[kTileLanes]) {
  float inv[kTileLanes];
  for (int h = 0; h < kParts; ++h) {
    part_store(inv + h * kPartLanes, part_div(part_set1(1.0f), t.sum.v[h]));
  }
  if (t.job->sinks != nullptr) {
    float max[kTileLanes], sum[kTileLanes];
    for (int h = 0; h < kParts; ++h) {
      part_store(max + h * kPartLanes, t.max.v[h]);
      part_store(sum + h * kPartLanes, t.sum.v[h]);
    }
    for (int64_t l = 0; l < kTileLanes; ++l) {
      if (rows_out[l]) inv[l] = 1.0f / attention_denominator(*t.job, heads[l], max[l], sum[l]);
    }
  }
  const int64_t dim = t.job->head_dim_v;
  for (int64_t h = 0; h < 2; ++h) {
    float* const* out = rows_out + h * kLanes;
    const float* acc = t.acct + h * kLanes;
    int64_t d = 0;
    for (; d + kLanes <= dim; d += kLanes) {
      __m256 r[8];
      for (int64_t i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(acc + (d + i) * kTileLanes);
      transpose8(r);
      for (int64_t l = 0; l < 8; ++l) {
        if (out[l])
          _mm256_storeu_ps(out[l] + d, _mm256_mul_ps(r[l], _mm256_set1_ps(inv[h * kLanes + l])));
      }
    }
    for (; d < dim; ++d) {
      for (int64_t l = 0; l < 8; ++l) {
        if (out[l]) out[l][d] = acc[d * kTileLanes + l] * inv[h * kLanes + l];
      }
    }
  }
}

// A tile's rows: where each lane's output goes (null: no row) and its query head.
struct TileRows {
  float* out[kTileLanes] = {};
  int64_t heads[kTileLanes] = {};
  int64_t first = std::numeric_limits<int64_t>::max(), last = 0;  // keys any row sees
};

// Starts the tile of the item's rows [r0, r0 + 16) (those below n_rows; query heads h0..
// of kv head kv, n_heads per token, from token t0): gathers q^T, sets each lane's visible
// keys, zeroes acc^T.
TileRows start_tile(Tile& t, const AttentionItem& item, int64_t r0) {
  const AttentionJob& job = *t.job;
  const int64_t n_heads = item.h1 - item.h0;
  const int64_t n_rows = (item.t1 - item.t0) * n_heads;
  TileRows rows;
  alignas(64) int begin[kTileLanes] = {}, end[kTileLanes] = {};
  t.all_begin = 0;
  t.all_end = std::numeric_limits<int64_t>::max();
  for (int64_t lane = 0; lane < kTileLanes; ++lane) {
    const int64_t r = r0 + lane;
    const float* q = nullptr;
    if (r < n_rows) {
      const int64_t token = item.t0 + r / n_heads,
                    head = item.kv * job.group + item.h0 + r % n_heads;
      q = job.q + token * job.q_stride + head * job.head_dim_k;
      rows.out[lane] = job.out + token * job.o_stride + head * job.head_dim_v;
      rows.heads[lane] = head;
      end[lane] = static_cast<int>(attention_key_end(job, token));
      begin[lane] =
          static_cast<int>(job.window > 0 ? std::max<int64_t>(0, end[lane] - job.window) : 0);
      rows.first = std::min<int64_t>(rows.first, begin[lane]);
      rows.last = std::max<int64_t>(rows.last, end[lane]);
      t.all_begin = std::max<int64_t>(t.all_begin, begin[lane]);
      t.all_end = std::min<int64_t>(t.all_end, end[lane]);
    }
    for (int64_t d = 0; d < job.head_dim_k; ++d) {
      t.qt[d * kTileLanes + lane] = q ? q[d] : 0.0f;
    }
  }
  for (int h = 0; h < kParts; ++h) {
    t.begin[h] = part_load_int(begin + h * kPartLanes);
    t.end[h] = part_load_int(end + h * kPartLanes);
    t.max.v[h] = part_set1(-INFINITY);
    t.sum.v[h] = part_set1(0.0f);
  }
  std::fill(t.acct, t.acct + job.head_dim_v * kTileLanes, 0.0f);
  return rows;
}

// The item's rows (a tile path item, attention_item) into job.out, up to
// kAttentionItemTiles tiles at a time over one grid of key chunks: each chunk's K and V rows
// (converted once, for an F16 cache) serve every tile that sees them. Without a window
// every tile's chunks start at key 0 as a tile alone would take them, so the grouping does
// not change a row's bits. scratch: attention_scratch_floats(job, tokens, heads).
void attention_tiles(const AttentionJob& job, const AttentionItem& item, float* scratch) {
  const int64_t n_rows = (item.t1 - item.t0) * (item.h1 - item.h0);
  const int64_t tile_floats = (job.head_dim_k + job.head_dim_v) * kTileLanes;
  float* scores = scratch;
  float* tile_state = scores + kTileChunk * kTileLanes;
  float* staging = tile_state + attention_set_tiles(n_rows) * tile_floats;
  for (int64_t r0 = 0; r0 < n_rows; r0 += kAttentionItemTiles * kTileLanes) {
    const int64_t n_tiles = attention_set_tiles(n_rows - r0);
    Tile tiles[kAttentionItemTiles];
    TileRows rows[kAttentionItemTiles];
    int64_t first = std::numeric_limits<int64_t>::max(), last = 0;
    for (int64_t i = 0; i < n_tiles; ++i) {
      float* qt = tile_state + i * tile_floats;
      tiles[i].job = &job;
      tiles[i].qt = qt;
      tiles[i].s = scores;
      tiles[i].acct = qt + job.head_dim_k * kTileLanes;
      rows[i] = start_tile(tiles[i], item, r0 + i * kTileLanes);
      first = std::min(first, rows[i].first);
      last = std::max(last, rows[i].last);
    }
    for (int64_t c0 = first; c0 < last; c0 += kTileChunk) {
      const int64_t c1 = std::min(c0 + kTileChunk, last);
      const KvRows kv = kv_rows(job, item.kv, c0, c1, staging);
      for (int64_t i = 0; i < n_tiles; ++i) {
        const int64_t a = std::max(c0, rows[i].first), b = std::min(c1, rows[i].last);
        if (a >= b) continue;
        tiles[i].rows = kv;
        tile_chunk(tiles[i], a, b);
      }
    }
    for (int64_t i = 0; i < n_tiles; ++i) write_rows(tiles[i], rows[i].out, rows[i].heads);
  }
}

}  // namespace

}  // namespace tern::cpu::TERN_SIMD_NAMESPACE
