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
// visible key are never visited (a causal block stops at its last query).
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

// Both row vectors of a tile: lanes [0, 8) and [8, 16).
struct Lanes {
  __m256 v[2];
};

struct Tile {
  const AttentionJob& job;
  int64_t kv;
  float* qt;                   // [head_dim_k, 16] queries
  float* s;                    // [kTileChunk, 16] scores, then p
  float* acct;                 // [head_dim_v, 16] un-normalized outputs
  float* staging;              // an F16 cache's chunk as floats
  __m256i begin[2], end[2];    // per lane: visible keys [begin, end)
  int64_t all_begin, all_end;  // keys every row of the tile sees
  Lanes max, sum;              // running max and sum of e^(s - max) per row
  KvRows rows;                 // the current chunk's K and V rows

  const float* k_row(int64_t j) const { return rows.k_row(j); }
  const float* v_row(int64_t j) const { return rows.v_row(j); }
};

// Lanes whose row does not see key j become -inf.
void mask_key(const Tile& t, __m256 (&s)[2], int64_t j) {
  const __m256i jv = _mm256_set1_epi32(static_cast<int>(j));
  for (int h = 0; h < 2; ++h) {
    __m256i seen =
        _mm256_andnot_si256(_mm256_cmpgt_epi32(t.begin[h], jv), _mm256_cmpgt_epi32(t.end[h], jv));
    s[h] = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), s[h], _mm256_castsi256_ps(seen));
  }
}

// s^T rows of keys [j, j + kKeys) (chunk from c0); raises chunk_max to their scores.
template <int64_t kKeys>
void score_step(const Tile& t, int64_t j, int64_t c0, Lanes& chunk_max) {
  const float* k[kKeys];
  for (int64_t x = 0; x < kKeys; ++x) k[x] = t.k_row(j + x);
  __m256 acc[kKeys][2];
  for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
  const float* q = t.qt;
  for (int64_t d = 0; d < t.job.head_dim_k; ++d, q += kTileLanes) {
    __m256 q0 = _mm256_loadu_ps(q), q1 = _mm256_loadu_ps(q + kLanes);
    for (int64_t x = 0; x < kKeys; ++x) {
      __m256 kd = _mm256_broadcast_ss(k[x] + d);
      acc[x][0] = _mm256_fmadd_ps(q0, kd, acc[x][0]);
      acc[x][1] = _mm256_fmadd_ps(q1, kd, acc[x][1]);
    }
  }
  const bool all_see = j >= t.all_begin && j + kKeys <= t.all_end;
  const __m256 scale = _mm256_set1_ps(t.job.scale);
  for (int64_t x = 0; x < kKeys; ++x) {
    // The scale after the dot product, as the reference applies it (folding it into q
    // rounds every score differently from the one-row path decoding takes).
    for (int h = 0; h < 2; ++h) acc[x][h] = _mm256_mul_ps(acc[x][h], scale);
    if (t.job.softcap > 0.0f) {
      for (int h = 0; h < 2; ++h) acc[x][h] = soft_cap8(acc[x][h], t.job.softcap);
    }
    if (!all_see) mask_key(t, acc[x], j + x);
    float* out = t.s + (j + x - c0) * kTileLanes;
    for (int h = 0; h < 2; ++h) {
      _mm256_storeu_ps(out + h * kLanes, acc[x][h]);
      chunk_max.v[h] = _mm256_max_ps(chunk_max.v[h], acc[x][h]);
    }
  }
}

// Online softmax over the chunk's n scores (one pass); returns acc's factor f.
Lanes softmax_chunk(Tile& t, int64_t n, const Lanes& chunk_max) {
  Lanes f, shift;
  for (int h = 0; h < 2; ++h) {
    __m256 new_max = _mm256_max_ps(t.max.v[h], chunk_max.v[h]);
    // A row that has seen no key yet (or an unused lane of the last tile) keeps max -inf:
    // shift by 0 instead (p = 0, f = 0), not by -inf (NaN).
    __m256 none = _mm256_cmp_ps(new_max, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ);
    shift.v[h] = _mm256_blendv_ps(new_max, _mm256_setzero_ps(), none);
    f.v[h] = exp8(_mm256_sub_ps(t.max.v[h], shift.v[h]));
    t.max.v[h] = new_max;
  }
  __m256 sum[2] = {_mm256_mul_ps(t.sum.v[0], f.v[0]), _mm256_mul_ps(t.sum.v[1], f.v[1])};
  for (float* s = t.s; s < t.s + n * kTileLanes; s += kTileLanes) {
    for (int h = 0; h < 2; ++h) {
      __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + h * kLanes), shift.v[h]));
      _mm256_storeu_ps(s + h * kLanes, p);
      sum[h] = _mm256_add_ps(sum[h], p);
    }
  }
  t.sum.v[0] = sum[0];
  t.sum.v[1] = sum[1];
  return f;
}

// acc^T rows [d, d + kDims) = acc^T f + sum over the chunk's n keys of v_j[d..] p_j.
template <int64_t kDims>
void accumulate_step(const Tile& t, int64_t d, int64_t c0, int64_t n, const Lanes& f) {
  __m256 acc[kDims][2];
  for (int64_t i = 0; i < kDims; ++i) {
    for (int h = 0; h < 2; ++h) {
      acc[i][h] =
          _mm256_mul_ps(_mm256_loadu_ps(t.acct + (d + i) * kTileLanes + h * kLanes), f.v[h]);
    }
  }
  const float* v = t.v_row(c0) + d;
  const float* p = t.s;
  for (int64_t j = 0; j < n; ++j, v += t.rows.v_stride, p += kTileLanes) {
    __m256 p0 = _mm256_loadu_ps(p), p1 = _mm256_loadu_ps(p + kLanes);
    for (int64_t i = 0; i < kDims; ++i) {
      __m256 vd = _mm256_broadcast_ss(v + i);
      acc[i][0] = _mm256_fmadd_ps(vd, p0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(vd, p1, acc[i][1]);
    }
  }
  for (int64_t i = 0; i < kDims; ++i) {
    for (int h = 0; h < 2; ++h) {
      _mm256_storeu_ps(t.acct + (d + i) * kTileLanes + h * kLanes, acc[i][h]);
    }
  }
}

// Keys [c0, c1) of the tile: scores, softmax, accumulation.
void tile_chunk(Tile& t, int64_t c0, int64_t c1) {
  Lanes chunk_max{{_mm256_set1_ps(-INFINITY), _mm256_set1_ps(-INFINITY)}};
  int64_t j = c0;
  for (; j + kStepKeys <= c1; j += kStepKeys) score_step<kStepKeys>(t, j, c0, chunk_max);
  for (; j < c1; ++j) score_step<1>(t, j, c0, chunk_max);
  Lanes f = softmax_chunk(t, c1 - c0, chunk_max);
  int64_t d = 0;
  for (; d + kStepDims <= t.job.head_dim_v; d += kStepDims) {
    accumulate_step<kStepDims>(t, d, c0, c1 - c0, f);
  }
  for (; d + 4 <= t.job.head_dim_v; d += 4) accumulate_step<4>(t, d, c0, c1 - c0, f);
  for (; d < t.job.head_dim_v; ++d) accumulate_step<1>(t, d, c0, c1 - c0, f);
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
  alignas(32) float inv[kTileLanes];
  for (int h = 0; h < 2; ++h) {
    _mm256_store_ps(inv + h * kLanes, _mm256_div_ps(_mm256_set1_ps(1.0f), t.sum.v[h]));
  }
  if (t.job.sinks != nullptr) {
    alignas(32) float max[kTileLanes], sum[kTileLanes];
    for (int h = 0; h < 2; ++h) {
      _mm256_store_ps(max + h * kLanes, t.max.v[h]);
      _mm256_store_ps(sum + h * kLanes, t.sum.v[h]);
    }
    for (int64_t l = 0; l < kTileLanes; ++l) {
      if (rows_out[l]) inv[l] = 1.0f / attention_denominator(t.job, heads[l], max[l], sum[l]);
    }
  }
  const int64_t dim = t.job.head_dim_v;
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

// Rows [r0, r0 + 16) of the item (those below n_rows; query heads h0.. of kv head kv,
// n_heads per token, from token t0) into job.out. scratch: tile_scratch_floats(job).
void attention_tile(const AttentionJob& job, const AttentionItem& item, int64_t r0,
                    float* scratch) {
  const int64_t n_heads = item.h1 - item.h0;
  const int64_t n_rows = (item.t1 - item.t0) * n_heads;
  Tile t{job,
         item.kv,
         scratch,
         scratch + job.head_dim_k * kTileLanes,
         scratch + (job.head_dim_k + kTileChunk) * kTileLanes,
         scratch + (job.head_dim_k + kTileChunk + job.head_dim_v) * kTileLanes};
  alignas(32) int begin[kTileLanes] = {}, end[kTileLanes] = {};
  int64_t first = std::numeric_limits<int64_t>::max(), last = 0;  // keys any row sees
  t.all_begin = 0;
  t.all_end = std::numeric_limits<int64_t>::max();
  float* rows_out[kTileLanes] = {};
  int64_t heads[kTileLanes] = {};
  for (int64_t lane = 0; lane < kTileLanes; ++lane) {
    const int64_t r = r0 + lane;
    const float* q = nullptr;
    if (r < n_rows) {
      const int64_t token = item.t0 + r / n_heads,
                    head = item.kv * job.group + item.h0 + r % n_heads;
      q = job.q + token * job.q_stride + head * job.head_dim_k;
      rows_out[lane] = job.out + token * job.o_stride + head * job.head_dim_v;
      heads[lane] = head;
      end[lane] = static_cast<int>(job.pos0 + token + 1);
      begin[lane] =
          static_cast<int>(job.window > 0 ? std::max<int64_t>(0, end[lane] - job.window) : 0);
      first = std::min<int64_t>(first, begin[lane]);
      last = std::max<int64_t>(last, end[lane]);
      t.all_begin = std::max<int64_t>(t.all_begin, begin[lane]);
      t.all_end = std::min<int64_t>(t.all_end, end[lane]);
    }
    for (int64_t d = 0; d < job.head_dim_k; ++d) {
      t.qt[d * kTileLanes + lane] = q ? q[d] : 0.0f;
    }
  }
  for (int h = 0; h < 2; ++h) {
    t.begin[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(begin + h * kLanes));
    t.end[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(end + h * kLanes));
    t.max.v[h] = _mm256_set1_ps(-INFINITY);
    t.sum.v[h] = _mm256_setzero_ps();
  }
  std::fill(t.acct, t.acct + job.head_dim_v * kTileLanes, 0.0f);
  for (int64_t c0 = first; c0 < last; c0 += kTileChunk) {
    const int64_t c1 = std::min(c0 + kTileChunk, last);
    t.rows = kv_rows(job, item.kv, c0, c1, t.staging);
    tile_chunk(t, c0, c1);
  }
  write_rows(t, rows_out, heads);
}

}  // namespace

}  // namespace tern::cpu::TERN_SIMD_NAMESPACE
