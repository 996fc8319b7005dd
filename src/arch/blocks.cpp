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
  TensorId factors = w.rope_freqs ? use(g, w.rope_freqs) : graph::kNone;
  graph::RopeParams rope{spec.n_head,      spec.head_dim_k,   spec.n_rot,
                         config.rope_base, config.rope_scale, config.neox};
  q = g.rope(q, factors, rope);
  rope.n_head = spec.n_head_kv;
  k = g.rope(k, factors, rope);

  TensorId k_cache = g.cache(cache.type, cache.k_cols, cache.n_ctx, cache.k);
  TensorId v_cache = g.cache(cache.type, cache.v_cols, cache.n_ctx, cache.v);
  g.copy(k, k_cache, g.pos0());
  g.copy(v, v_cache, g.pos0());
  float scale =
      config.scale > 0.0f ? config.scale : 1.0f / std::sqrt(static_cast<float>(spec.head_dim_k));
  graph::AttentionParams params{spec.n_head,     spec.n_head_kv, spec.head_dim_k,
                                spec.head_dim_v, scale,          config.window};
  TensorId att = g.attention(q, k_cache, v_cache, params);  // [n, n_head * hd_v]
  return g.matmul(use(g, w.wo), att);                       // [n, n_embd]
}

TensorId feed_forward(Graph& g, TensorId x, const Weight& gate, const Weight& up,
                      const Weight& down, Glu glu) {
  TensorId a = g.matmul(use(g, gate), x);  // [n, n_ff]
  TensorId b = g.matmul(use(g, up), x);    // [n, n_ff]
  TensorId h = glu == Glu::Silu ? g.swiglu(a, b) : g.geglu(a, b);
  return g.matmul(use(g, down), h);  // [n, n_embd]
}

void output_head(Graph& g, TensorId x, std::vector<int32_t> rows, const Weight& norm_w,
                 const Weight& output, float eps) {
  TensorId picked = g.get_rows(x, g.input(std::move(rows)));  // [n_out, n_embd]
  TensorId h = norm(g, picked, norm_w, eps);
  g.finish(g.matmul(use(g, output), h));  // [n_out, n_vocab]
}

}  // namespace tern::blocks
