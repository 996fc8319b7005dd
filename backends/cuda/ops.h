// The kernels of every op but the matrix products (those are matmul.h's), one .cu file
// each. Each function enqueues its kernel on `stream` and checks the launch; operands are
// device pointers, activations dense F32 rows. cuda_backend.cpp turns graph nodes into
// these calls.
#pragma once

#include <cstdint>

#include "gpu_runtime.h"

namespace tern::cuda {

/// out = x / sqrt(mean(x^2) + eps) * w over each of n_groups groups of `group` values;
/// w (group values) may be null (ops_rms_norm.cu).
void rms_norm(const float* x, const float* w, int64_t group, int64_t n_groups, float eps,
              float* out, cudaStream_t stream);

/// Rotates x [n_tokens, n_head * head_dim] into out: cos_sin [n_tokens, n_rot / 2, 2] holds
/// each token's and pair's cos and sin (computed on the host); pairs (i, i + n_rot/2)
/// when neox, else (2i, 2i+1); dims from n_rot on are copied (ops_rope.cu).
void rope(const float* x, const float* cos_sin, int64_t n_tokens, int n_head, int head_dim,
          int n_rot, bool neox, float* out, cudaStream_t stream);

/// Largest head size attention() takes (both K and V).
inline constexpr int kMaxAttentionHeadDim = 512;

struct AttentionShape {
  int64_t n_tokens = 0;  // queries (one per token of the batch)
  int n_head = 0, n_head_kv = 0;
  int head_dim_k = 0, head_dim_v = 0;
  int64_t k_cols = 0, v_cols = 0;  // values per cache row (n_head_kv * head dims)
  int64_t window = 0;              // 0: none; else key j visible to p when p - window < j
  float scale = 1.0f;
  float softcap = 0.0f;  // > 0: scores become softcap * tanh(score / softcap) (gemma2)
  bool sinks = false;    // n_head sink logits follow the places (gpt-oss; run_data.h)
};

/// Floats of device scratch attention() needs for `s` (0: none). Depends on the shape
/// only, never on the positions, so a captured graph's launches stay valid.
size_t attention_scratch_floats(const AttentionShape& s);

/// out [n_tokens, n_head * head_dim_v] = causal softmax(softcap(q k^T * scale)) v for q [n_tokens,
/// n_head * head_dim_k]: token t at position places[2t] of the sequence whose cache rows
/// start at places[2t + 1] reads rows places[2t + 1] + [0, places[2t]] of k and v (F32, or
/// F16 when `f16`) and no others. `places` is read on the device (the per-run data), so
/// the launch does not change from one decode step to the next (with s.sinks, head h's
/// sink logit, places[2 n_tokens + h] as a float, joins the softmax denominator); `scratch` holds
/// attention_scratch_floats(s) floats (ops_attention.cu).
void attention(const float* q, const void* k, const void* v, bool f16, const AttentionShape& s,
               const int32_t* places, float* scratch, float* out, cudaStream_t stream);

/// Row rows[r] of `cache` (rows of row_values values; `rows` read on the device) = row r of
/// x (n values in all), as F16 (round to nearest even) when `f16`, else F32 (ops_copy.cu).
void copy_to_cache(const float* x, int64_t n, void* cache, int64_t row_values, const int32_t* rows,
                   bool f16, cudaStream_t stream);

enum class Glu { Silu, GeluTanh };
/// out = act(gate) * up over n values (ops_glu.cu).
void glu(Glu act, const float* gate, const float* up, int64_t n, float* out,
         cudaStream_t stream);
/// gpt-oss's clamped SwiGLU: out = g sigmoid(alpha g) (u + 1), g = min(gate, limit), u =
/// clamp(up, -limit, limit) (ops_glu.cu).
void swiglu_oai(const float* gate, const float* up, int64_t n, float alpha, float limit,
                float* out, cudaStream_t stream);

/// out [rows, cols] = a + b, b with b_rows rows (rows, or 1: broadcast) (ops_binary.cu).
void add(const float* a, const float* b, int64_t cols, int64_t rows, int64_t b_rows, float* out,
         cudaStream_t stream);
/// out = x * factor over n values (ops_binary.cu).
void scale(const float* x, int64_t n, float factor, float* out, cudaStream_t stream);
/// out = cap * tanh(x / cap) over n values, cap > 0 (ops_binary.cu).
void soft_cap(const float* x, int64_t n, float cap, float* out, cudaStream_t stream);

/// Most experts per token expert_route() takes.
inline constexpr int kMaxExpertsUsed = 16;

/// route [n, 2 * n_used] from router logits [n, n_expert] (graph.h, ExpertRoute; n_used at
/// most kMaxExpertsUsed; chosen_only: softmax over the chosen experts, gpt-oss's gating)
/// (ops_experts.cu).
void expert_route(const float* logits, int64_t n, int n_expert, int n_used, bool normalize,
                  bool chosen_only, float* route, cudaStream_t stream);
/// out = y [n_pairs, cols] + row e of bias [n_expert, cols] for each pair's expert e
/// (graph.h, ExpertAdd) (ops_experts.cu).
void expert_add(const float* y, const float* bias, int n_expert, const float* route,
                int64_t n_pairs, int n_used, int64_t cols, float* out, cudaStream_t stream);
/// out [n, cols]: out[t] = sum_j route[t][j] * y[t * n_used + j], in route order
/// (ops_experts.cu).
void expert_mix(const float* y, const float* route, int64_t n, int n_used, int64_t cols, float* out,
                cudaStream_t stream);

}  // namespace tern::cuda
