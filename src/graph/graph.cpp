#include "graph/graph.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "tern/error.h"

namespace tern::graph {

std::string_view op_name(Op op) {
  constexpr std::array<std::string_view, 18> kNames = {
      "get_rows",   "matmul",   "rms_norm",   "rope",       "attention",    "swiglu",
      "geglu",      "add",      "scale",      "copy",       "expert_route", "expert_matmul",
      "expert_mix", "soft_cap", "swiglu_oai", "expert_add", "layer_norm",   "gelu"};
  return kNames[static_cast<size_t>(op)];
}

namespace {

[[noreturn]] void shape_error(Op op, const std::string& what) {
  throw Error(fmt::format("graph: {}: {}", op_name(op), what));
}

std::vector<TokenPlace> consecutive_places(int64_t pos0, int64_t n_tokens) {
  std::vector<TokenPlace> places(static_cast<size_t>(std::max<int64_t>(n_tokens, 0)));
  for (size_t i = 0; i < places.size(); ++i) places[i].pos = pos0 + static_cast<int64_t>(i);
  return places;
}

}  // namespace

Graph::Graph(int64_t pos0, int64_t n_tokens) : Graph(consecutive_places(pos0, n_tokens)) {}

Graph::Graph(std::vector<TokenPlace> places) : places_(std::move(places)) {
  for (size_t i = 0; i < places_.size(); ++i) {
    const TokenPlace& p = places_[i];
    if (p.pos < 0 || p.slot_row < 0) {
      throw Error(fmt::format("graph: token {} at position {} of slot row {}", i, p.pos,
                              p.slot_row));
    }
    cache_rows_used_ = std::max(cache_rows_used_, p.cache_row() + 1);
    auto row = static_cast<int64_t>(i);
    if (!segments_.empty()) {
      Segment& last = segments_.back();
      if (last.slot_row == p.slot_row && last.pos0 + last.n_rows == p.pos) {
        ++last.n_rows;
        continue;
      }
    }
    segments_.push_back({row, 1, p.pos, p.slot_row});
  }
}

TensorId Graph::add_tensor(const Tensor& t) {
  tensors_.push_back(t);
  return static_cast<TensorId>(tensors_.size() - 1);
}

TensorId Graph::activation(int64_t cols, int64_t rows) {
  return add_tensor({TensorType::F32, cols, rows, Storage::Activation});
}

TensorId Graph::weight(TensorType type, int64_t cols, int64_t rows, const void* data) {
  return add_tensor({type, cols, rows, Storage::Weight, data});
}

TensorId Graph::input(std::vector<int32_t> ids) {
  auto n = static_cast<int64_t>(ids.size());
  inputs_.push_back(std::move(ids));
  return add_tensor({TensorType::I32, 1, n, Storage::Input, nullptr, nullptr, inputs_.size() - 1});
}

TensorId Graph::cache(TensorType type, int64_t cols, int64_t rows, Buffer& buffer) {
  return add_tensor({type, cols, rows, Storage::Cache, nullptr, &buffer});
}

TensorId Graph::add_node(Op op, TensorId out, std::initializer_list<TensorId> in, Params params) {
  Node node{op, out, {kNone, kNone, kNone, kNone}, layer_, params};
  std::copy(in.begin(), in.end(), node.in.begin());
  nodes_.push_back(node);
  return out;
}

void Graph::check_rows_match(Op op, TensorId a, TensorId b) const {
  const Tensor& x = tensor(a);
  const Tensor& y = tensor(b);
  if (x.cols != y.cols || (x.rows != y.rows && y.rows != 1)) {
    shape_error(op, fmt::format("shapes [{}, {}] and [{}, {}] do not match", x.rows, x.cols, y.rows,
                                y.cols));
  }
}

// Ops whose rows are the batch's tokens (their positions and cache rows come from places).
void Graph::check_per_token(Op op, TensorId x) const {
  if (tensor(x).rows != n_tokens()) {
    shape_error(op, fmt::format("{} rows for a batch of {} tokens", tensor(x).rows, n_tokens()));
  }
}

TensorId Graph::get_rows(TensorId table, TensorId ids) {
  const Tensor& t = tensor(table);
  return add_node(Op::GetRows, activation(t.cols, tensor(ids).rows), {table, ids});
}

TensorId Graph::matmul(TensorId w, TensorId x) {
  if (tensor(w).cols != tensor(x).cols) {
    shape_error(Op::MatMul, fmt::format("weight rows of {} values, input rows of {}",
                                        tensor(w).cols, tensor(x).cols));
  }
  return add_node(Op::MatMul, activation(tensor(w).rows, tensor(x).rows), {w, x});
}

TensorId Graph::rms_norm(TensorId x, TensorId w, float eps) {
  const Tensor& t = tensor(x);
  if (w != kNone && (tensor(w).rows != 1 || t.cols % tensor(w).cols != 0)) {
    shape_error(Op::RmsNorm,
                fmt::format("weight of {} values for rows of {}", tensor(w).cols, t.cols));
  }
  return add_node(Op::RmsNorm, activation(t.cols, t.rows), {x, w}, RmsNormParams{eps});
}

TensorId Graph::layer_norm(TensorId x, TensorId w, TensorId b, float eps) {
  const Tensor& t = tensor(x);
  for (TensorId p : {w, b}) {
    const Tensor& wt = tensor(p);
    if (wt.cols * wt.rows != t.cols) {
      shape_error(Op::LayerNorm, fmt::format("weight and bias must have {} values", t.cols));
    }
  }
  return add_node(Op::LayerNorm, activation(t.cols, t.rows), {x, w, b}, LayerNormParams{eps});
}

TensorId Graph::rope(TensorId x, TensorId freq_factors, const RopeParams& p) {
  const Tensor& t = tensor(x);
  if (t.cols != int64_t{p.n_head} * p.head_dim || p.n_rot > p.head_dim || p.n_rot % 2 != 0) {
    shape_error(Op::Rope, fmt::format("rows of {} for {} heads of {} ({} rotating)", t.cols,
                                      p.n_head, p.head_dim, p.n_rot));
  }
  check_per_token(Op::Rope, x);
  if (freq_factors != kNone &&
      tensor(freq_factors).cols * tensor(freq_factors).rows != p.n_rot / 2) {
    shape_error(Op::Rope, "frequency factors must have n_rot / 2 values");
  }
  return add_node(Op::Rope, activation(t.cols, t.rows), {x, freq_factors}, p);
}

TensorId Graph::attention(TensorId q, TensorId k_cache, TensorId v_cache, const AttentionParams& p,
                          TensorId sinks) {
  const Tensor& t = tensor(q);
  if (p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0 ||
      t.cols != int64_t{p.n_head} * p.head_dim_k ||
      tensor(k_cache).cols != int64_t{p.n_head_kv} * p.head_dim_k ||
      tensor(v_cache).cols != int64_t{p.n_head_kv} * p.head_dim_v) {
    shape_error(Op::Attention, "q/k/v widths do not match the head counts and sizes");
  }
  if (!(p.softcap >= 0.0f)) shape_error(Op::Attention, fmt::format("soft cap {}", p.softcap));
  if (!p.causal && p.window != 0) shape_error(Op::Attention, "a sliding window must be causal");
  if (sinks != kNone && (tensor(sinks).type != TensorType::F32 ||
                         tensor(sinks).cols * tensor(sinks).rows != p.n_head)) {
    shape_error(Op::Attention, fmt::format("sinks must be {} F32 values", p.n_head));
  }
  check_per_token(Op::Attention, q);
  if (cache_rows_used_ > std::min(tensor(k_cache).rows, tensor(v_cache).rows)) {
    shape_error(Op::Attention, "cache too short");
  }
  return add_node(Op::Attention, activation(int64_t{p.n_head} * p.head_dim_v, t.rows),
                  {q, k_cache, v_cache, sinks}, p);
}

TensorId Graph::swiglu(TensorId gate, TensorId up) {
  check_rows_match(Op::SwiGlu, gate, up);
  return add_node(Op::SwiGlu, activation(tensor(gate).cols, tensor(gate).rows), {gate, up});
}

TensorId Graph::swiglu_oai(TensorId gate, TensorId up, const SwiGluOaiParams& p) {
  check_rows_match(Op::SwiGluOai, gate, up);
  if (tensor(up).rows != tensor(gate).rows || !(p.limit > 0.0f)) {
    shape_error(Op::SwiGluOai,
                fmt::format("limit {} (above 0), or gate and up rows differ", p.limit));
  }
  return add_node(Op::SwiGluOai, activation(tensor(gate).cols, tensor(gate).rows), {gate, up}, p);
}

TensorId Graph::geglu(TensorId gate, TensorId up) {
  check_rows_match(Op::GeGlu, gate, up);
  return add_node(Op::GeGlu, activation(tensor(gate).cols, tensor(gate).rows), {gate, up});
}

TensorId Graph::gelu(TensorId x) {
  return add_node(Op::Gelu, activation(tensor(x).cols, tensor(x).rows), {x});
}

TensorId Graph::add(TensorId a, TensorId b) {
  check_rows_match(Op::Add, a, b);
  return add_node(Op::Add, activation(tensor(a).cols, tensor(a).rows), {a, b});
}

TensorId Graph::scale(TensorId x, float factor) {
  return add_node(Op::Scale, activation(tensor(x).cols, tensor(x).rows), {x}, ScaleParams{factor});
}

TensorId Graph::expert_route(TensorId logits, const ExpertRouteParams& p) {
  const Tensor& t = tensor(logits);
  if (p.n_used <= 0 || p.n_used > t.cols) {
    shape_error(Op::ExpertRoute, fmt::format("{} of {} experts", p.n_used, t.cols));
  }
  return add_node(Op::ExpertRoute, activation(2 * int64_t{p.n_used}, t.rows), {logits}, p);
}

TensorId Graph::expert_matmul(TensorId w, TensorId x, TensorId route, int n_expert) {
  const Tensor& wt = tensor(w);
  const Tensor& xt = tensor(x);
  const Tensor& rt = tensor(route);
  int64_t n_used = rt.cols / 2;
  if (n_expert <= 0 || wt.rows % n_expert != 0 || wt.cols != xt.cols ||
      (xt.rows != rt.rows && xt.rows != rt.rows * n_used)) {
    shape_error(Op::ExpertMatMul,
                fmt::format("weight [{}, {}] of {} experts, input [{}, {}], route of {} rows",
                            wt.rows, wt.cols, n_expert, xt.rows, xt.cols, rt.rows));
  }
  return add_node(Op::ExpertMatMul, activation(wt.rows / n_expert, rt.rows * n_used),
                  {w, x, route}, ExpertMatMulParams{n_expert});
}

TensorId Graph::expert_mix(TensorId y, TensorId route) {
  const Tensor& yt = tensor(y);
  const Tensor& rt = tensor(route);
  if (yt.rows != rt.rows * (rt.cols / 2)) {
    shape_error(Op::ExpertMix, fmt::format("{} rows for a route of {} rows and {} experts",
                                           yt.rows, rt.rows, rt.cols / 2));
  }
  return add_node(Op::ExpertMix, activation(yt.cols, rt.rows), {y, route});
}

TensorId Graph::expert_add(TensorId y, TensorId bias, TensorId route) {
  const Tensor& yt = tensor(y);
  const Tensor& bt = tensor(bias);
  const Tensor& rt = tensor(route);
  if (yt.rows != rt.rows * (rt.cols / 2) || bt.cols != yt.cols || bt.storage != Storage::Weight) {
    shape_error(Op::ExpertAdd,
                fmt::format("rows [{}, {}] for a route of {} rows and {} experts, bias weight "
                            "of rows of {}",
                            yt.rows, yt.cols, rt.rows, rt.cols / 2, bt.cols));
  }
  return add_node(Op::ExpertAdd, activation(yt.cols, yt.rows), {y, bias, route});
}

TensorId Graph::soft_cap(TensorId x, float cap) {
  if (!(cap > 0.0f)) shape_error(Op::SoftCap, fmt::format("cap {} is not above 0", cap));
  return add_node(Op::SoftCap, activation(tensor(x).cols, tensor(x).rows), {x}, SoftCapParams{cap});
}

void Graph::copy(TensorId x, TensorId dst) {
  const Tensor& d = tensor(dst);
  if (d.storage != Storage::Cache || d.cols != tensor(x).cols || cache_rows_used_ > d.rows) {
    shape_error(Op::Copy, "destination is not a cache tensor with room for the rows");
  }
  check_per_token(Op::Copy, x);
  add_node(Op::Copy, dst, {x});
}

// Liveness-based placement: an activation's space is reused once its last reader has
// run. A node's output never shares space with its own inputs.
void Graph::finish(TensorId result) {
  result_ = result;
  constexpr size_t kForever = std::numeric_limits<size_t>::max();
  std::vector<size_t> last_use(tensors_.size(), 0);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (TensorId in : nodes_[i].in) {
      if (in != kNone) last_use[static_cast<size_t>(in)] = i;
    }
  }
  last_use[static_cast<size_t>(result)] = kForever;
  struct Slot {
    size_t offset, size, busy_until;
  };
  std::vector<Slot> slots;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Tensor& out = tensors_[static_cast<size_t>(nodes_[i].out)];
    if (out.storage != Storage::Activation) continue;
    size_t need = static_cast<size_t>(out.cols * out.rows);
    Slot* best = nullptr;
    for (Slot& s : slots) {
      if (s.busy_until < i && s.size >= need && (best == nullptr || s.size < best->size)) best = &s;
    }
    if (best == nullptr) {
      slots.push_back({workspace_floats_, need, 0});
      workspace_floats_ += need;
      best = &slots.back();
    }
    best->busy_until = std::max(last_use[static_cast<size_t>(nodes_[i].out)], i);
    out.offset = best->offset;
  }
}

}  // namespace tern::graph
