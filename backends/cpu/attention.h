// SIMD attention of the CPU backend: the semantics of the scalar reference
// cpu::attention (reference_kernels.h: causal, sliding window, GQA, scale, separate K
// and V head sizes, a KV cache before the batch) with the kernels of one x86 level
// (x86/attention.h, expanded in attention_avx2.cpp and attention_avx512.cpp).
//
// Work items are (kv head, block of query tokens): every query head of the kv head's group
// at those tokens is one row, so each K and V row loaded serves all of them. When that
// gives too few items to keep the threads busy (decoding), each query head is an item. A
// decoding row's keys are taken in splits fixed by position, merged at the end; when the
// splits of all rows give the threads enough items, an item is one sequence's every kv head
// over a run of its splits (so it reads whole cache rows). Keys are
// taken in chunks that stay in L1 with an online softmax (running max and sum per row; the
// accumulated output is rescaled when the max grows), so scratch does not grow with the
// context. F16 caches are read in place, so no F32 copy of the cache is made: decoding
// converts each vector as it loads it (vcvtph2ps); a prompt's item converts its kv head's
// rows one key chunk at a time into L1-sized staging, each chunk serving all its tiles.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>

#include "backends/cpu/cpu_features.h"
#include "graph/graph.h"
#include "types/type_table.h"

namespace tern::cpu {

/// As cpu::attention for each segment: its q rows [n_rows, n_head * head_dim_k] at positions
/// pos0 + t over the k/v cache rows slot_row + [0, pos0 + n_rows) (rows of n_head_kv *
/// head_dim_k|v values of `kv_type`, F32 or F16) -> its out rows [n_rows, n_head *
/// head_dim_v]; with `isa`'s kernels (not Scalar), every segment's work items in one
/// pass of up to n_threads threads of the shared pool. Not p.causal (encoders): every row
/// sees all of its segment's keys, as cpu::attention gives a row alone at the segment's last
/// position.
/// `sinks`: null, or n_head sink logits (graph.h, AttentionParams).
void simd_attention(const float* q, const void* k, const void* v, TensorType kv_type,
                    std::span<const graph::Segment> segments, const graph::AttentionParams& p,
                    const float* sinks, float* out, int n_threads, Isa isa);

/// One attention call as the per-level kernels see it. Strides are in floats.
struct AttentionJob {
  const float* q;  // row of token t: q + t * q_stride; head h at + h * head_dim_k
  const void* k;   // row of position j: k + j * k_stride; kv head at + kv * head_dim_k
  const void* v;   // row of position j: v + j * v_stride; kv head at + kv * head_dim_v
  bool f16;        // k and v hold F16 values (else F32)
  float* out;      // row of token t: out + t * o_stride; head h at + h * head_dim_v
  int64_t q_stride, k_stride, v_stride, o_stride;
  int64_t pos0;    // position of token 0
  int64_t window;  // 0: none; else key j visible to position p when p - window < j <= p
  int group;       // query heads per kv head; head h uses kv head h / group
  int head_dim_k, head_dim_v;
  float scale;         // applied to q.k
  float softcap;       // > 0: scores become softcap * tanh(score / softcap)
  int64_t key_chunk;   // keys per softmax chunk, a multiple of 8
  const float* sinks;  // null, or per query head a logit added to the softmax denominator
  // Few-token rows take their keys in splits of split_keys (a multiple of key_chunk) from
  // key 0, each split an item of its own; with more than one (n_splits, over this job's
  // keys), items leave each row's split in `partials` and attention_merge combines them.
  int64_t split_keys;
  int64_t n_splits;
  float* partials;  // n_splits > 1: each row's results per split (attention_partial)
  bool causal = true;   // false (encoders, no window): every row sees keys [0, key_end)
  int64_t key_end = 0;  // the segment's keys: pos0 + its token count
};

/// The end of the keys token t (of the job) sees: its own position + 1, or the segment's.
inline int64_t attention_key_end(const AttentionJob& job, int64_t t) {
  return job.causal ? job.pos0 + t + 1 : job.key_end;
}

/// The softmax denominator of query head `head`'s row once its running max and sum are
/// final: the sum plus e^(sink - max) when the job has sinks.
inline float attention_denominator(const AttentionJob& job, int64_t head, float max, float sum) {
  return job.sinks == nullptr ? sum : sum + std::exp(job.sinks[head] - max);
}

/// Floats of one row's partial result for one split: head_dim_v sums of p v, max, sum.
inline int64_t attention_partial_floats(const AttentionJob& job) { return job.head_dim_v + 2; }

/// Token t's (of the job) partial result of query head h for split s.
inline float* attention_partial(const AttentionJob& job, int64_t t, int64_t h, int64_t s) {
  const int64_t n_head = job.q_stride / job.head_dim_k;
  return job.partials + ((t * n_head + h) * job.n_splits + s) * attention_partial_floats(job);
}

/// The splits [first, second) whose keys the rows of tokens [t0, t1) see (t0 < t1): from
/// the first token's first visible key to the last token's last.
inline std::pair<int64_t, int64_t> attention_split_range(const AttentionJob& job, int64_t t0,
                                                         int64_t t1) {
  const int64_t end = attention_key_end(job, t1 - 1);
  const int64_t begin = job.window > 0 ? std::max<int64_t>(0, job.pos0 + t0 + 1 - job.window) : 0;
  return {begin / job.split_keys, (end - 1) / job.split_keys + 1};
}

/// The rows of one work item: query heads [h0, h1) of the group of each kv head in [kv,
/// kv1) (0 <= h0 < h1 <= group, counted from the group's first head) at tokens [t0, t1);
/// kv head k's row r = (t - t0) * (h1 - h0) + (head - k * group - h0). Only items of fewer
/// than kAttentionMinTileTokens tokens take several kv heads.
struct AttentionItem {
  int64_t kv, kv1, h0, h1, t0, t1;
  int64_t split0, split1;  // few tokens: splits [split0, split1) of the keys, in turn
  bool merge;              // the item has every split and head of its tokens: it merges them
  float* scratch;  // (kv1 - kv) * attention_scratch_floats(job, t1 - t0, h1 - h0) floats
};

/// Items of kAttentionMinTileTokens tokens or more (prompts) are computed
/// kAttentionTileRows rows at a time, one per vector lane, over chunks of
/// kAttentionTileKeys keys (x86/attention_tiles.h). Fewer tokens (decoding, a speculative
/// step) take each row's dot products in turn, on a grid of key chunks fixed by position,
/// so a row's output does not depend on the other rows of its item: a token decoded with
/// up to 7 others of its sequence gets the bits it gets alone.
constexpr int64_t kAttentionMinTileTokens = 8;
constexpr int64_t kAttentionTileRows = 16;
constexpr int64_t kAttentionTileKeys = 48;
/// Tiles of an item that share each converted key chunk (a group's heads x 16 tokens: 3
/// tiles for SmolLM2, 4 for Gemma 3 270M); more take turns in sets of this many.
constexpr int64_t kAttentionItemTiles = 8;

/// Tiles that share each key chunk in an item of `n_rows` rows (its first set of tiles).
inline int64_t attention_set_tiles(int64_t n_rows) {
  return std::min(kAttentionItemTiles, (n_rows + kAttentionTileRows - 1) / kAttentionTileRows);
}

/// Scratch floats one work item of `n_tokens` tokens x `n_heads` query heads needs: for
/// few tokens, for each of their rows scores [key_chunk], accumulated outputs [head_dim_v
/// rounded up to 8], running max, sum, rescale; for tiles, scores [kAttentionTileKeys, 16],
/// then per tile (up to kAttentionItemTiles) q^T [head_dim_k, 16] and accumulated outputs
/// [head_dim_v, 16], then with an F16 cache a chunk's K and V rows as floats
/// (attention_staging_floats).
int64_t attention_scratch_floats(const AttentionJob& job, int64_t n_tokens, int64_t n_heads);
/// Floats of F16-to-F32 staging for `keys` keys' K and V rows of one kv head (0 for F32).
int64_t attention_staging_floats(const AttentionJob& job, int64_t keys);

// Per level: computes one work item's output rows (or, with several splits, its split's
// partial results); merges token t's partials into its output rows.
namespace avx2 {
void attention_item(const AttentionJob& job, const AttentionItem& item);
void attention_merge(const AttentionJob& job, int64_t t);
}  // namespace avx2

namespace avx512 {
void attention_item(const AttentionJob& job, const AttentionItem& item);
void attention_merge(const AttentionJob& job, int64_t t);
}  // namespace avx512

}  // namespace tern::cpu
