#include "arch/blocks.h"

#include <cmath>
#include <vector>

namespace tern::blocks {

TensorId embed(Graph& g, const Weight& tok_embd, std::span<const int32_t> tokens) {
  return g.get_rows(use(g, tok_embd), g.input({tokens.begin(), tokens.end()}));
}

TensorId norm(Graph& g, TensorId x, const Weight& w, float eps) {
  return g.rms_norm(x, use(g, w), eps);
}

namespace {

// x [n, n_embd] -> W x + b: [n, W.rows].
TensorId project(Graph& g, TensorId x, const Weight& w, const Weight& b) {
  TensorId y = g.matmul(use(g, w), x);
  return b ? g.add(y, use(g, b)) : y;
}

}  // namespace

TensorId attention(Graph& g, TensorId x, const ModelSpec& spec, const AttentionWeights& w,
                   const AttentionConfig& config, const graph::CacheView& cache) {
  TensorId q = project(g, x, w.wq, w.bq);                // [n, n_head * hd_k]
  TensorId k = project(g, x, w.wk, w.bk);                // [n, n_kv * hd_k]
  TensorId v = project(g, x, w.wv, w.bv);                // [n, n_kv * hd_v]
  if (w.q_norm) q = norm(g, q, w.q_norm, spec.rms_eps);  // per head: groups of hd_k
  if (w.k_norm) k = norm(g, k, w.k_norm, spec.rms_eps);
  if (!config.encoder) {
    const LayerRope& rope = config.rope;
    TensorId factors = rope.factors ? use(g, rope.factors) : graph::kNone;
    q = g.rope(q, factors, rope.params(spec, spec.n_head));
    k = g.rope(k, factors, rope.params(spec, spec.n_head_kv));
  }

  TensorId k_cache = g.cache(cache.type, cache.k_cols, cache.rows, *cache.k);
  TensorId v_cache = g.cache(cache.type, cache.v_cols, cache.rows, *cache.v);
  g.copy(k, k_cache);
  g.copy(v, v_cache);
  float scale =
      config.scale > 0.0f ? config.scale : 1.0f / std::sqrt(static_cast<float>(spec.head_dim_k));
  graph::AttentionParams params{spec.n_head, spec.n_head_kv, spec.head_dim_k, spec.head_dim_v,
                                scale,       config.window,  config.softcap,  !config.encoder};
  TensorId sinks = w.sinks ? use(g, w.sinks) : graph::kNone;
  TensorId att = g.attention(q, k_cache, v_cache, params, sinks);  // [n, n_head * hd_v]
  return project(g, att, w.wo, w.bo);                              // [n, n_embd]
}

bool is_sliding_layer(int il, int64_t n) { return n == 0 || il % n < n - 1; }

namespace {

TensorId activate(Graph& g, Glu glu, TensorId gate, TensorId up) {
  switch (glu) {
    case Glu::Silu:
      return g.swiglu(gate, up);
    case Glu::GeluTanh:
      return g.geglu(gate, up);
    case Glu::SiluOai:
      return g.swiglu_oai(gate, up, {});
  }
  return graph::kNone;
}

}  // namespace

TensorId feed_forward(Graph& g, TensorId x, const FeedForwardWeights& w, Glu glu) {
  TensorId a = g.matmul(use(g, w.gate), x);                 // [n, n_ff]
  TensorId b = g.matmul(use(g, w.up), x);                   // [n, n_ff]
  return g.matmul(use(g, w.down), activate(g, glu, a, b));  // [n, n_embd]
}

TensorId expert_feed_forward(Graph& g, TensorId x, const ModelSpec& spec, const ExpertWeights& w,
                             const FeedForwardConfig& config) {
  // llama.cpp renormalizes softmax weights over the chosen experts, not softmaxes of them.
  const bool over_all = config.gating == graph::ExpertGating::Softmax;
  TensorId logits = project(g, x, w.router, w.router_bias);  // [n, n_expert]
  TensorId route = g.expert_route(
      logits, {.n_used = spec.n_expert_used, .normalize = over_all, .gating = config.gating});
  const int n = spec.n_expert;
  // The gate's and up's products share their input and route: the CPU groups them.
  auto biased = [&](TensorId y, const Weight& b) {  // + b[e] on each (token, expert) row
    return b ? g.expert_add(y, use(g, b), route) : y;
  };
  TensorId gate = g.expert_matmul(use(g, w.gate), x, route, n);  // [n * n_used, n_ff_exp]
  TensorId up = g.expert_matmul(use(g, w.up), x, route, n);
  TensorId h = activate(g, config.glu, biased(gate, w.gate_bias), biased(up, w.up_bias));
  TensorId down = g.expert_matmul(use(g, w.down), h, route, n);  // [n * n_used, n_embd]
  return g.expert_mix(biased(down, w.down_bias), route);
}

void output_head(Graph& g, TensorId x, const BatchInputs& in, const HeadWeights& w, float eps,
                 float final_softcap) {
  TensorId picked = g.get_rows(x, g.input(in.output_rows));  // [n_out, n_embd]
  TensorId h = norm(g, picked, w.output_norm, eps);
  if (in.hidden_states) {
    g.finish(h);
    return;
  }
  TensorId logits = g.matmul(use(g, w.projection()), h);  // [n_out, n_vocab]
  g.finish(final_softcap > 0.0f ? g.soft_cap(logits, final_softcap) : logits);
}

void pre_norm_decoder(Graph& g, const BatchInputs& in, const ModelSpec& spec,
                      const HeadWeights& head, std::span<const PreNormLayer> layers,
                      std::span<const LayerRope> ropes, const FeedForwardConfig& ffn) {
  TensorId x = embed(g, head.tok_embd, in.tokens);  // [n, n_embd]
  for (size_t il = 0; il < layers.size(); ++il) {
    const PreNormLayer& l = layers[il];
    g.set_layer(static_cast<int>(il));
    TensorId h = norm(g, x, l.attn_norm, spec.rms_eps);
    x = g.add(x,
              attention(g, h, spec, l.attn, {.rope = ropes[il], .window = l.window}, in.cache[il]));
    h = norm(g, x, l.ffn_norm, spec.rms_eps);
    x = g.add(x, l.experts ? expert_feed_forward(g, h, spec, l.experts, ffn)
                           : feed_forward(g, h, l.ffn, ffn.glu));
  }
  g.set_layer(static_cast<int>(layers.size()));
  output_head(g, x, in, head, spec.rms_eps);
}

void bind_head(TensorVisitor& b, const ModelSpec& s, HeadWeights& w) {
  b.bind(w.tok_embd, "token_embd.weight", {s.n_embd, s.n_vocab});
  b.bind(w.output_norm, "output_norm.weight", {s.n_embd});
  b.bind(w.output, "output.weight", {s.n_embd, s.n_vocab}, Need::Optional);
}

void bind_qkv(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w) {
  b.bind_layer(w.wq, "attn_q.weight", {s.n_embd, int64_t{s.n_head} * s.head_dim_k});
  b.bind_layer(w.wk, "attn_k.weight", {s.n_embd, s.k_cols()});
  b.bind_layer(w.wv, "attn_v.weight", {s.n_embd, s.v_cols()});
}

void bind_fused_qkv(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w) {
  const int64_t q_rows = int64_t{s.n_head} * s.head_dim_k;
  Weight qkv;  // rows: q [q_rows], k [k_cols], v [v_cols]
  b.bind_layer(qkv, "attn_qkv.weight", {s.n_embd, q_rows + s.k_cols() + s.v_cols()});
  w.wq = qkv.rows(0, q_rows);
  w.wk = qkv.rows(q_rows, s.k_cols());
  w.wv = qkv.rows(q_rows + s.k_cols(), s.v_cols());
}

void bind_qkv_bias(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w) {
  b.bind_layer(w.bq, "attn_q.bias", {int64_t{s.n_head} * s.head_dim_k});
  b.bind_layer(w.bk, "attn_k.bias", {s.k_cols()});
  b.bind_layer(w.bv, "attn_v.bias", {s.v_cols()});
}

void bind_qk_norm(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w) {
  b.bind_layer(w.q_norm, "attn_q_norm.weight", {s.head_dim_k});
  b.bind_layer(w.k_norm, "attn_k_norm.weight", {s.head_dim_k});
}

void bind_attn_output(TensorVisitor& b, const ModelSpec& s, AttentionWeights& w) {
  b.bind_layer(w.wo, "attn_output.weight", {int64_t{s.n_head} * s.head_dim_v, s.n_embd});
}

void bind_feed_forward(TensorVisitor& b, const ModelSpec& s, FeedForwardWeights& w) {
  b.bind_layer(w.gate, "ffn_gate.weight", {s.n_embd, s.n_ff});
  b.bind_layer(w.up, "ffn_up.weight", {s.n_embd, s.n_ff});
  b.bind_layer(w.down, "ffn_down.weight", {s.n_ff, s.n_embd});
}

void bind_experts(TensorVisitor& b, const ModelSpec& s, ExpertWeights& w) {
  b.bind_layer(w.router, "ffn_gate_inp.weight", {s.n_embd, s.n_expert});
  b.bind_layer(w.gate, "ffn_gate_exps.weight", {s.n_embd, s.n_ff_exp, s.n_expert});
  b.bind_layer(w.up, "ffn_up_exps.weight", {s.n_embd, s.n_ff_exp, s.n_expert});
  b.bind_layer(w.down, "ffn_down_exps.weight", {s.n_ff_exp, s.n_embd, s.n_expert});
}

void bind_expert_biases(TensorVisitor& b, const ModelSpec& s, ExpertWeights& w) {
  b.bind_layer(w.router_bias, "ffn_gate_inp.bias", {s.n_expert});
  b.bind_layer(w.gate_bias, "ffn_gate_exps.bias", {s.n_ff_exp, s.n_expert});
  b.bind_layer(w.up_bias, "ffn_up_exps.bias", {s.n_ff_exp, s.n_expert});
  b.bind_layer(w.down_bias, "ffn_down_exps.bias", {s.n_embd, s.n_expert});
}

void bind_fused_feed_forward(TensorVisitor& b, const ModelSpec& s, FeedForwardWeights& w) {
  Weight gate_up;  // rows: gate [n_ff], up [n_ff]
  b.bind_layer(gate_up, "ffn_up.weight", {s.n_embd, 2 * s.n_ff});
  w.gate = gate_up.rows(0, s.n_ff);
  w.up = gate_up.rows(s.n_ff, s.n_ff);
  b.bind_layer(w.down, "ffn_down.weight", {s.n_ff, s.n_embd});
}

}  // namespace tern::blocks
