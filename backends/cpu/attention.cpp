#include "backends/cpu/attention.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

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

// Items per thread below which each query head becomes an item of its own.
constexpr int64_t kMinItemsPerThread = 2;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

using ItemFn = void (*)(const AttentionJob&, const AttentionItem&);

ItemFn item_kernel(Isa isa) {
  switch (isa) {
    case Isa::Avx2:
      return avx2::attention_item;
    case Isa::Avx512:
      return avx512::attention_item;
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
  const int64_t value_bytes = kv_type == TensorType::F16 ? 2 : 4;
  int64_t chunk = kChunkBytes / (int64_t{p.head_dim_k} * value_bytes);
  chunk = std::clamp<int64_t>(chunk / 8 * 8, 8, 256);
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
          sinks};
}

}  // namespace

int64_t attention_staging_floats(const AttentionJob& job, int64_t keys) {
  return job.f16 ? keys * (job.head_dim_k + job.head_dim_v) : 0;
}

int64_t attention_scratch_floats(const AttentionJob& job, int64_t n_tokens, int64_t n_heads) {
  int64_t acc_stride = (job.head_dim_v + 7) / 8 * 8;
  const int64_t n_rows = n_tokens * n_heads;
  if (n_tokens >= kAttentionMinTileTokens) {
    return kAttentionTileRows * (job.head_dim_k + kAttentionTileKeys + job.head_dim_v) +
           attention_staging_floats(job, kAttentionTileKeys);
  }
  return n_rows * (job.key_chunk + acc_stride + 3);
}

void simd_attention(const float* q, const void* k, const void* v, TensorType kv_type,
                    std::span<const graph::Segment> segments, const graph::AttentionParams& p,
                    const float* sinks, float* out, int n_threads, Isa isa) {
  if (segments.empty()) return;
  ItemFn kernel = item_kernel(isa);
  const AttentionJob base = make_job(q, k, v, kv_type, 0, p, sinks, out);
  const size_t kv_bytes = base.f16 ? 2 : 4;
  // One job per segment: its rows of q and out, its slot of the cache.
  std::vector<AttentionJob> jobs;
  for (const graph::Segment& s : segments) {
    AttentionJob job = base;
    job.q = q + s.row0 * base.q_stride;
    job.out = out + s.row0 * base.o_stride;
    job.k = static_cast<const uint8_t*>(k) + static_cast<size_t>(s.slot_row * base.k_stride) * kv_bytes;
    job.v = static_cast<const uint8_t*>(v) + static_cast<size_t>(s.slot_row * base.v_stride) * kv_bytes;
    job.pos0 = s.pos0;
    jobs.push_back(job);
  }
  // Items of every query head of a group, or of single heads when those are too few; of
  // every kv head when each segment is a few tokens (several sequences decoding) and its
  // blocks alone give each thread kMinItemsPerThread: an item then reads whole cache rows,
  // front to back, which the hardware prefetchers follow (bench_kernels attention_decode,
  // Zen 5, 4 sequences, two runs of 6 and 4 alternating rounds, medians: 135m 4.35-4.45 ->
  // 2.67-2.83 ms, 1b 256 F32 3.31-3.37 -> 2.18-2.25, F16 1.96-2.00 -> 1.23-1.25).
  int64_t heads_per_item = base.group;
  int64_t kv_per_item = 1;
  const int64_t tokens_per_item = kTokensPerItem;
  int64_t n_blocks = 0;  // blocks of tokens, none spanning two segments
  bool few_tokens = true;
  std::vector<int64_t> first_block;
  for (const graph::Segment& s : segments) {
    first_block.push_back(n_blocks);
    n_blocks += ceil_div(s.n_rows, tokens_per_item);
    few_tokens = few_tokens && s.n_rows < kAttentionMinTileTokens;
  }
  if (few_tokens && n_blocks >= kMinItemsPerThread * n_threads) {
    kv_per_item = p.n_head_kv;
  } else if (n_blocks * p.n_head_kv < kMinItemsPerThread * n_threads) {
    heads_per_item = 1;
  }
  const int64_t splits_per_group = base.group / heads_per_item;
  const int64_t items_per_block = p.n_head_kv / kv_per_item * splits_per_group;
  // A segment's last block may have fewer tokens than a tile takes.
  int64_t scratch_floats =
      kv_per_item *
      std::max(attention_scratch_floats(base, tokens_per_item, heads_per_item),
               attention_scratch_floats(base, kAttentionMinTileTokens - 1, heads_per_item));
  ThreadPool::shared().run(n_blocks * items_per_block, n_threads, [&](int64_t task) {
    // Latest blocks (the most keys within a segment) first, so the cheapest items even
    // out the end.
    int64_t block = n_blocks - 1 - task / items_per_block;
    size_t seg = static_cast<size_t>(
        std::upper_bound(first_block.begin(), first_block.end(), block) - first_block.begin() - 1);
    const int64_t item = task % items_per_block;
    const int64_t kv = item / splits_per_group * kv_per_item;
    const int64_t h0 = item % splits_per_group * heads_per_item;
    int64_t t0 = (block - first_block[seg]) * tokens_per_item;
    thread_local std::vector<float> scratch;
    if (scratch.size() < static_cast<size_t>(scratch_floats)) {
      scratch.resize(static_cast<size_t>(scratch_floats));
    }
    kernel(jobs[seg], {kv, kv + kv_per_item, h0, h0 + heads_per_item, t0,
                       std::min(segments[seg].n_rows, t0 + tokens_per_item), scratch.data()});
  });
}

}  // namespace tern::cpu
