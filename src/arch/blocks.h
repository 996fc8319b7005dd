// Building blocks the architectures share: embedding, norms, attention with the KV
// cache, gated feed-forward, and the output head. Each adds ops to a graph.
#pragma once

#include <cstdint>
#include <span>

#include "arch/architecture.h"
#include "graph/graph.h"
#include "model/model_spec.h"
#include "model/weights.h"

namespace tern::blocks {

using graph::Graph;
using graph::TensorId;

/// Token embeddings: tokens [n] -> [n, n_embd].
TensorId embed(Graph& g, const Weight& tok_embd, std::span<const int32_t> tokens);

/// x [n, width] -> rms_norm(x) * w, over groups of w's length.
TensorId norm(Graph& g, TensorId x, const Weight& w, float eps);

/// Attention projections; biases, per-head q/k norms and sinks are optional.
struct AttentionWeights {
  Weight wq, wk, wv,
      wo;  // [n_embd -> n_head*hd_k], [.. -> n_kv*hd_k], [.. -> n_kv*hd_v], [.. -> n_embd]
  Weight bq, bk, bv;      // optional biases (qwen2, gpt-oss)
  Weight bo;              // optional output bias [n_embd] (gpt-oss)
  Weight q_norm, k_norm;  // optional per-head RMS norms [hd_k] (qwen3, gemma3)
  Weight sinks;           // optional sink logits [n_head] (gpt-oss; graph.h, AttentionParams)
};

struct AttentionConfig {
  LayerRope rope;        // the layer's entry of ArchModel::layer_ropes()
  float scale = 0.0f;    // q.k scale; 0: 1 / sqrt(head_dim_k)
  int64_t window = 0;    // sliding window (0: full causal)
  float softcap = 0.0f;  // attention logit soft cap (0: none)
  // Encoders (BERT): positions were added to the embeddings, so q and k are not rotated,
  // and every token attends to the whole text.
  bool encoder = false;
};

/// Self-attention of the normalized input x [n, n_embd] at the graph's places over the KV
/// cache of one layer (this batch's K and V are written into it first); -> [n, n_embd].
TensorId attention(Graph& g, TensorId x, const ModelSpec& spec, const AttentionWeights& w,
                   const AttentionConfig& config, const graph::CacheView& cache);

/// Layer il of a model whose sliding-window layers follow llama.cpp's pattern of period n
/// (n = 0: every layer slides; else all but the last of each n): il % n < n - 1.
bool is_sliding_layer(int il, int64_t n);

/// The gated activation: silu, tanh-GELU, or gpt-oss's clamped SwiGLU (graph.h,
/// SwiGluOaiParams).
enum class Glu { Silu, GeluTanh, SiluOai };

struct FeedForwardWeights {
  Weight gate, up, down;  // [n_embd -> n_ff], [n_embd -> n_ff], [n_ff -> n_embd]
};

/// Gated feed-forward: down(act(gate x) * up x); x [n, n_embd] -> [n, n_embd].
TensorId feed_forward(Graph& g, TensorId x, const FeedForwardWeights& w, Glu glu);

/// A mixture of experts: a router and n_expert gated feed-forwards stacked in 3-D tensors.
struct ExpertWeights {
  Weight router;          // ffn_gate_inp [n_embd -> n_expert]
  Weight gate, up, down;  // [n_embd -> n_ff_exp] x n_expert, ..., [n_ff_exp -> n_embd] x n_expert
  // Optional biases (gpt-oss): the router's [n_expert], and one row per expert of each
  // product's outputs: [n_ff_exp] x n_expert, [n_ff_exp] x n_expert, [n_embd] x n_expert.
  Weight router_bias, gate_bias, up_bias, down_bias;
  explicit operator bool() const { return static_cast<bool>(router); }
};

/// How a feed-forward activates and, for experts, how the router weighs them.
struct FeedForwardConfig {
  Glu glu = Glu::Silu;
  /// Softmax over all experts, weights renormalized over the chosen ones (qwen3moe,
  /// Mixtral); or a softmax over the chosen experts' logits only (gpt-oss).
  graph::ExpertGating gating = graph::ExpertGating::Softmax;
};

/// Routed feed-forward: each token's n_expert_used experts of highest router logit, their
/// gated outputs weighted as `config` says and summed; x [n, n_embd] -> [n, n_embd].
TensorId expert_feed_forward(Graph& g, TensorId x, const ModelSpec& spec, const ExpertWeights& w,
                             const FeedForwardConfig& config);

/// The tensors outside the layers: embeddings, final norm, optional output head.
struct HeadWeights {
  Weight tok_embd, output_norm, output;
  /// The output projection: output.weight, or the tied embeddings when it is absent.
  const Weight& projection() const { return output ? output : tok_embd; }
};

/// Output head: the rows in.output_rows of x [n, n_embd], normalized, times the projection
/// ([n_vocab, n_embd]) -> logits [rows, n_vocab], soft-capped when final_softcap > 0; or,
/// for in.hidden_states, the normalized rows themselves [rows, n_embd]. Finishes the graph.
void output_head(Graph& g, TensorId x, const BatchInputs& in, const HeadWeights& w, float eps,
                 float final_softcap = 0.0f);

/// The llama-family layer: x + attention(norm(x)), then + feed_forward(norm(x)).
struct PreNormLayer {
  Weight attn_norm;
  AttentionWeights attn;
  int64_t window = 0;  // the attention's sliding window (0: full causal)
  Weight ffn_norm;
  FeedForwardWeights ffn;  // dense models
  ExpertWeights experts;   // mixture-of-experts models (spec.n_expert > 0) instead of ffn
};

/// embed -> pre-norm layers -> output head: the whole forward pass of llama, qwen2, qwen3,
/// qwen3moe, phi3 and gpt-oss; layer il rotates with ropes[il].
void pre_norm_decoder(Graph& g, const BatchInputs& in, const ModelSpec& spec,
                      const HeadWeights& head, std::span<const PreNormLayer> layers,
                      std::span<const LayerRope> ropes, const FeedForwardConfig& ffn);

// Binding helpers: each names its tensors once, for every architecture's visitor.

/// token_embd, output_norm and the optional output.weight.
void bind_head(TensorVisitor& b, const ModelSpec& s, HeadWeights& w);
/// attn_q, attn_k, attn_v of the current layer.
void bind_qkv(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w);
/// attn_q.bias, attn_k.bias, attn_v.bias (qwen2).
void bind_qkv_bias(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w);
/// attn_qkv: q, k and v as row ranges of one fused matrix (phi3).
void bind_fused_qkv(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w);
/// attn_q_norm, attn_k_norm: per-head RMS norms (qwen3, gemma3).
void bind_qk_norm(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w);
/// attn_output.
void bind_attn_output(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w);
/// ffn_gate, ffn_up, ffn_down.
void bind_feed_forward(TensorVisitor& b, const ModelSpec& s, FeedForwardWeights& w);
/// ffn_gate_inp, ffn_gate_exps, ffn_up_exps, ffn_down_exps.
void bind_experts(TensorVisitor& b, const ModelSpec& s, ExpertWeights& w);
/// Their biases: ffn_gate_inp.bias, ffn_gate_exps.bias, ffn_up_exps.bias, ffn_down_exps.bias
/// (gpt-oss).
void bind_expert_biases(TensorVisitor& b, const ModelSpec& s, ExpertWeights& w);
/// ffn_up holding the gate (first n_ff rows) and up (last n_ff rows) matrices, ffn_down (phi3).
void bind_fused_feed_forward(TensorVisitor& b, const ModelSpec& s, FeedForwardWeights& w);

}  // namespace tern::blocks
