#include "backends/cpu/attention.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "backends/cpu/aligned_vector.h"
#include "backends/cpu/thread_pool.h"
#include "tern/error.h"

namespace tern::cpu {

namespace {

// Tokens per work item: with every query head of a group in the item, its rows (group x
// 16) fill whole tiles of the tiled path; with one head, 16 rows are one tile.
constexpr int64_t kTokensPerItem = kAttentionTileRows;
// Bytes of K (and as many of V) per softmax chunk, in the cache's own type: both stay in L1
// while every row of the item passes over them. An F32 cache of 64 values per head takes
// 32 keys a chunk (64 measured no different once the softmax skips the keys no row sees),
// an F16 one 64, which halves the per-chunk softmax work and loop starts: bench_kernels
// attention_decode, Zen 5, five alternating rounds, medians: 135m x4 4.10 -> 3.49 ms,
// 1b 256 x4 F16 1.84 -> 1.71 (F32 rows unchanged).
constexpr int64_t kChunkBytes = 8192;

// Units of work (blocks x key splits) per thread from which decoding items take every kv
// head, reading whole cache rows.
constexpr int64_t kMinItemsPerThread = 2;

// Keys per split of a few-token row (rounded up to whole chunks). A long context's splits
// spread one sequence over the threads in items of whole cache rows; being fixed by
// position, a row's splits (and so its bits) do not depend on the rows beside it. SmolLM2
// decoding one sequence at depth 3072 (`tern bench -p 0 -n 32 -d 3072 -t 2`, Zen 5, three
// alternating pairs): 104-119 -> 186-197 t/s, attention 5.8-6.6 -> 3.2-3.5 ms a token; four
// sequences there and every width at depth 128 unchanged.
constexpr int64_t kSplitKeys = 256;
// Items per thread that items of whole cache rows aim at, in runs of consecutive splits.
constexpr int64_t kItemsPerThread = 2;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct LevelKernels {
  void (*item)(const AttentionJob&, const AttentionItem&);
  void (*merge)(const AttentionJob&, int64_t);
};

LevelKernels level_kernels(Isa isa) {
  switch (isa) {
    case Isa::Avx2:
      return {avx2::attention_item, avx2::attention_merge};
    case Isa::Avx512:
    case Isa::Amx:
      return {avx512::attention_item, avx512::attention_merge};
    case Isa::Scalar:
      break;
  }
  throw Error(fmt::format("no SIMD attention at level {}", isa_name(isa)));
}

AttentionJob make_job(const float* q, const void* k, const void* v, TensorType kv_type,
                      int64_t pos0, const graph::AttentionParams& p, const float* sinks,
                      float* out) {
  if (kv_type != TensorType::F32 && kv_type != TensorType::F16) {
    throw Error(fmt::format("attention: {} KV cache (F32 or F16 only)", type_traits(kv_type).name));
  }
  if (p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0 || p.head_dim_k <= 0 || p.head_dim_v <= 0) {
    throw Error(fmt::format("attention: {} query heads over {} kv heads, head sizes {}/{}",
                            p.n_head, p.n_head_kv, p.head_dim_k, p.head_dim_v));
  }
  if (!p.causal && p.window > 0) throw Error("attention: a window needs causal attention");
  const int64_t value_bytes = kv_type == TensorType::F16 ? 2 : 4;
  int64_t chunk = kChunkBytes / (int64_t{p.head_dim_k} * value_bytes);
  chunk = std::clamp<int64_t>(chunk / 8 * 8, 8, 256);
  const int64_t split_keys = ceil_div(kSplitKeys, chunk) * chunk;
  return {q,
          k,
          v,
          kv_type == TensorType::F16,
          out,
          int64_t{p.n_head} * p.head_dim_k,
          int64_t{p.n_head_kv} * p.head_dim_k,
          int64_t{p.n_head_kv} * p.head_dim_v,
          int64_t{p.n_head} * p.head_dim_v,
          pos0,
          p.window,
          p.n_head / p.n_head_kv,
          p.head_dim_k,
          p.head_dim_v,
          p.scale,
          p.softcap,
          chunk,
          sinks,
          split_keys,
          1,
          nullptr,
          p.causal};
}

}  // namespace

int64_t attention_staging_floats(const AttentionJob& job, int64_t keys) {
  return job.f16 ? keys * (job.head_dim_k + job.head_dim_v) : 0;
}

int64_t attention_scratch_floats(const AttentionJob& job, int64_t n_tokens, int64_t n_heads) {
  int64_t acc_stride = (job.head_dim_v + 7) / 8 * 8;
  const int64_t n_rows = n_tokens * n_heads;
  if (n_tokens >= kAttentionMinTileTokens) {
    const int64_t tiles = attention_set_tiles(n_rows);
    return kAttentionTileRows * (kAttentionTileKeys + tiles * (job.head_dim_k + job.head_dim_v)) +
           attention_staging_floats(job, kAttentionTileKeys);
  }
  return n_rows * (job.key_chunk + acc_stride + 3);
}

namespace {

// Work of one item shape: a block of a segment's tokens (none spanning two segments) and a
// run of the splits its rows see.
struct Unit {
  size_t seg;
  int64_t t0, t1, split0, split1;
  bool whole = false;  // every split of its tokens (and, so used, every head): the item merges
};

// One job per segment: its rows of q and out, its slot of the cache and, for few tokens, its
// splits, their partial results in `partials` (resized to hold them all).
std::vector<AttentionJob> segment_jobs(const AttentionJob& base,
                                       std::span<const graph::Segment> segments,
                                       AlignedVector<float>& partials) {
  const size_t kv_bytes = base.f16 ? 2 : 4;
  const int64_t row_floats = base.q_stride / base.head_dim_k * attention_partial_floats(base);
  std::vector<AttentionJob> jobs;
  std::vector<size_t> offsets;
  size_t partial_floats = 0;
  for (const graph::Segment& s : segments) {
    AttentionJob job = base;
    job.q = base.q + s.row0 * base.q_stride;
    job.out = base.out + s.row0 * base.o_stride;
    job.k = static_cast<const uint8_t*>(base.k) +
            static_cast<size_t>(s.slot_row * base.k_stride) * kv_bytes;
    job.v = static_cast<const uint8_t*>(base.v) +
            static_cast<size_t>(s.slot_row * base.v_stride) * kv_bytes;
    job.pos0 = s.pos0;
    job.key_end = s.pos0 + s.n_rows;
    if (s.n_rows < kAttentionMinTileTokens)
      job.n_splits = ceil_div(s.pos0 + s.n_rows, base.split_keys);
    offsets.push_back(partial_floats);
    if (job.n_splits > 1) {
      partial_floats += static_cast<size_t>(s.n_rows * job.n_splits * row_floats);
    }
    jobs.push_back(job);
  }
  if (partials.size() < partial_floats) partials.resize(partial_floats);
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].n_splits > 1) jobs[i].partials = partials.data() + offsets[i];
  }
  return jobs;
}

// The units of every block, one split each.
std::vector<Unit> split_units(std::span<const AttentionJob> jobs,
                              std::span<const graph::Segment> segments) {
  std::vector<Unit> units;
  for (size_t seg = 0; seg < segments.size(); ++seg) {
    const AttentionJob& job = jobs[seg];
    for (int64_t t0 = 0; t0 < segments[seg].n_rows; t0 += kTokensPerItem) {
      const int64_t t1 = std::min(segments[seg].n_rows, t0 + kTokensPerItem);
      const auto [s0, s1] =
          job.n_splits > 1 ? attention_split_range(job, t0, t1) : std::pair<int64_t, int64_t>{0, 1};
      for (int64_t split = s0; split < s1; ++split)
        units.push_back({seg, t0, t1, split, split + 1});
    }
  }
  return units;
}

// The units joined into runs of at most `run` consecutive splits of a block, each marked
// whole when it has all of its block's.
std::vector<Unit> join_splits(const std::vector<Unit>& units, int64_t run) {
  auto same_block = [](const Unit& a, const Unit& b) { return a.seg == b.seg && a.t0 == b.t0; };
  std::vector<Unit> runs;
  for (const Unit& u : units) {
    if (!runs.empty() && same_block(runs.back(), u) &&
        runs.back().split1 - runs.back().split0 < run) {
      runs.back().split1 = u.split1;
    } else {
      runs.push_back(u);
    }
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    runs[i].whole = (i == 0 || !same_block(runs[i - 1], runs[i])) &&
                    (i + 1 == runs.size() || !same_block(runs[i + 1], runs[i]));
  }
  return runs;
}

}  // namespace

void simd_attention(const float* q, const void* k, const void* v, TensorType kv_type,
                    std::span<const graph::Segment> segments, const graph::AttentionParams& p,
                    const float* sinks, float* out, int n_threads, Isa isa) {
  if (segments.empty()) return;
  const LevelKernels kernels = level_kernels(isa);
  const AttentionJob base = make_job(q, k, v, kv_type, 0, p, sinks, out);
  thread_local AlignedVector<float> partials;
  const std::vector<AttentionJob> jobs = segment_jobs(base, segments, partials);
  std::vector<Unit> units = split_units(jobs, segments);
  const bool few_tokens =
      std::all_of(segments.begin(), segments.end(),
                  [](const graph::Segment& s) { return s.n_rows < kAttentionMinTileTokens; });
  // Items of every query head of a group, or of single heads when those are too few; of
  // every kv head when each segment is a few tokens (decoding) and the units alone give
  // each thread kMinItemsPerThread: an item then reads whole cache rows, front to back,
  // which the hardware prefetchers follow (bench_kernels attention_decode, Zen 5, 4
  // sequences, two runs of 6 and 4 alternating rounds, medians: 135m 4.35-4.45 -> 2.67-2.83
  // ms, 1b 256 F32 3.31-3.37 -> 2.18-2.25, F16 1.96-2.00 -> 1.23-1.25). Those items take
  // runs of consecutive splits, about kItemsPerThread per thread: long streams, and fewer
  // items to hand out.
  int64_t heads_per_item = base.group;
  int64_t kv_per_item = 1;
  const auto n_units = static_cast<int64_t>(units.size());
  if (few_tokens && n_units >= kMinItemsPerThread * n_threads) {
    kv_per_item = p.n_head_kv;
    units = join_splits(units, std::max<int64_t>(1, n_units / (kItemsPerThread * n_threads)));
  } else if (n_units * p.n_head_kv < n_threads) {
    // Fewer groups than threads: single heads, though each reads its group's K and V
    // again. From one group per thread on, groups: SmolLM2's 3 for one sequence at depth
    // 128 on 2 threads took 0.189-0.193 ms of attention a token against 0.224-0.232 as 9
    // heads (`--profile`, three alternating pairs).
    heads_per_item = 1;
  }
  // Latest blocks (the most keys within a segment) first, so the cheapest items even out
  // the end.
  std::reverse(units.begin(), units.end());
  const int64_t head_sets = base.group / heads_per_item;
  const int64_t items_per_unit = p.n_head_kv / kv_per_item * head_sets;
  // A segment's last block may have fewer tokens than a tile takes.
  int64_t scratch_floats =
      kv_per_item *
      std::max(attention_scratch_floats(base, kTokensPerItem, heads_per_item),
               attention_scratch_floats(base, kAttentionMinTileTokens - 1, heads_per_item));
  ThreadPool::shared().run(
      static_cast<int64_t>(units.size()) * items_per_unit, n_threads, [&](int64_t task) {
        const Unit& u = units[static_cast<size_t>(task / items_per_unit)];
        const int64_t item = task % items_per_unit;
        const int64_t kv = item / head_sets * kv_per_item;
        const int64_t h0 = item % head_sets * heads_per_item;
        thread_local AlignedVector<float> scratch;
        if (scratch.size() < static_cast<size_t>(scratch_floats)) {
          scratch.resize(static_cast<size_t>(scratch_floats));
        }
        kernels.item(jobs[u.seg], {kv, kv + kv_per_item, h0, h0 + heads_per_item, u.t0, u.t1,
                                   u.split0, u.split1, u.whole, scratch.data()});
      });
  // The tokens whose splits were in several items: their partial results merged.
  std::vector<std::pair<size_t, int64_t>> merges;
  for (size_t i = 0; i < units.size(); ++i) {
    const Unit& u = units[i];
    const bool block_seen = i > 0 && units[i - 1].seg == u.seg && units[i - 1].t0 == u.t0;
    if (jobs[u.seg].n_splits == 1 || u.whole || block_seen) continue;
    for (int64_t t = u.t0; t < u.t1; ++t) merges.emplace_back(u.seg, t);
  }
  ThreadPool::shared().run(static_cast<int64_t>(merges.size()), n_threads, [&](int64_t task) {
    const auto [seg, t] = merges[static_cast<size_t>(task)];
    kernels.merge(jobs[seg], t);
  });
}

}  // namespace tern::cpu
