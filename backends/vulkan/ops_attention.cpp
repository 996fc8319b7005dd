// Attention over the KV cache and Copy into it: the ops that touch the cache, which lives
// in this backend's buffers as F32 or F16 rows.
#include "ops.h"

namespace tern::vulkan {

namespace {

constexpr int kMaxHeadDim = 512;  // MAX_DIM of attention.comp

bool cache_type(TensorType t) { return t == TensorType::F32 || t == TensorType::F16; }

std::string suffix(TensorType t) { return t == TensorType::F16 ? "f16" : "f32"; }

// A cache tensor of this backend whose buffer the shaders may bind.
bool usable_cache(const OpLimits& l, const graph::Tensor& t) {
  return t.storage == graph::Storage::Cache && cache_type(t.type) && l.owns_cache(t.cache) &&
         *row_bytes(t.type, t.cols) * static_cast<size_t>(t.rows) <= l.max_buffer_bytes;
}

}  // namespace

bool supports_attention(const OpLimits& l, const graph::Graph& g, const graph::Node& node) {
  const auto& p = std::get<graph::AttentionParams>(node.params);
  return p.causal && usable_cache(l, g.tensor(node.in[1])) &&
         usable_cache(l, g.tensor(node.in[2])) && p.head_dim_k <= kMaxHeadDim &&
         p.head_dim_v <= kMaxHeadDim;
}

bool supports_copy(const OpLimits& l, const graph::Graph& g, const graph::Node& node) {
  const graph::Tensor& dst = g.tensor(node.out);
  return usable_cache(l, dst) && (dst.type == TensorType::F32 || dst.cols % 2 == 0);
}

void record_attention(OpContext& c, const graph::Node& node) {
  const auto& p = std::get<graph::AttentionParams>(node.params);
  const graph::Tensor& q = c.graph.tensor(node.in[0]);
  const graph::Tensor& k = c.graph.tensor(node.in[1]);
  const graph::Tensor& v = c.graph.tensor(node.in[2]);
  const graph::Tensor& out = c.graph.tensor(node.out);
  Push push;  // the places are per-run data, checked by RunData against the cache rows
  push.u(q.rows).u(static_cast<int64_t>(c.aux_at)).u(p.n_head).u(p.n_head_kv);
  push.u(p.head_dim_k).u(p.head_dim_v);
  push.u(p.window).u(k.cols).u(v.cols).u(static_cast<int64_t>(q.offset));
  push.u(static_cast<int64_t>(out.offset)).f(p.scale).f(p.softcap);
  push.u(node.in[3] != graph::kNone ? 1 : 0);  // sinks after the places (run_data.h)
  c.exec.dispatch("attention_" + suffix(k.type),
                  {c.aux, c.workspace, c.cache_buffer(k.cache)->handle(),
                   c.cache_buffer(v.cache)->handle()},
                  push, static_cast<uint64_t>(q.rows * p.n_head));
}

void record_copy(OpContext& c, const graph::Node& node) {
  const graph::Tensor& x = c.graph.tensor(node.in[0]);
  const graph::Tensor& dst = c.graph.tensor(node.out);
  int64_t n = x.rows * x.cols;
  Push push;  // the rows are per-run data, checked by RunData against the cache rows
  push.u(n).u(static_cast<int64_t>(c.aux_at)).u(dst.cols).u(static_cast<int64_t>(x.offset));
  uint64_t threads = static_cast<uint64_t>(dst.type == TensorType::F16 ? (n + 1) / 2 : n);
  c.exec.dispatch("copy_" + suffix(dst.type),
                  {c.workspace, c.workspace, c.cache_buffer(dst.cache)->handle(), c.aux},
                  push, (threads + kWorkgroup - 1) / kWorkgroup);
}

}  // namespace tern::vulkan
