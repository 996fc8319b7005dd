// graph::Graph: the ops of one forward pass over one micro-batch, in execution order.
// Architectures build it from the small op set below; backends run spans of it. Nodes
// carry the layer they belong to, so a scheduler can give layer ranges to backends.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "types/type_table.h"

namespace tern {
class Buffer;  // backends/backend.h
}

namespace tern::graph {

enum class Op : uint8_t {
  GetRows,       // out[i] = table[ids[i]] as float; table [n_rows, cols], ids [n, 1]
  MatMul,        // out [n, w.rows] = x [n, w.cols] @ w^T; w in any type of the table
  RmsNorm,       // out = x / rms(x) * w, over groups of w.cols values (per row or per head)
  Rope,          // rotary position embedding of x [n, n_head * head_dim] at positions pos0 + i
  Attention,     // softmax(softcap(q k^T * scale) + mask) v over the KV cache; GQA, causal,
                 // window; optional sinks: a logit per query head in the denominator only
  SwiGlu,        // out = silu(gate) * up
  GeGlu,         // out = gelu_tanh(gate) * up
  Add,           // out = a + b; b with one row broadcasts over a's rows (biases)
  Scale,         // out = x * factor
  Copy,          // writes row i of x into cache row places[i].cache_row(), converting the type
  ExpertRoute,   // router logits [n, n_expert] -> route [n, 2 * n_used] (ExpertRouteParams)
  ExpertMatMul,  // out [n * n_used, w.rows / n_expert]: row t * n_used + j = W[e_tj] x
  ExpertMix,     // y [n * n_used, cols] -> [n, cols]: out[t] = sum_j p_tj y[t * n_used + j]
  SoftCap,       // out = cap * tanh(x / cap): gemma2's final logit soft-capping
  SwiGluOai,     // out = g sigmoid(alpha g) (u + 1), g = min(gate, limit), u = clamp(up, +-limit)
  ExpertAdd,     // y [n * n_used, cols] + b: row t * n_used + j gets bias row e_tj of b
  LayerNorm,     // out = (x - mean(x)) / sqrt(var(x) + eps) * w + b, per row (BERT)
  Gelu,          // out = x * Phi(x), the exact (erf) GELU of BERT's feed-forward
};

std::string_view op_name(Op op);

/// Where a tensor's bytes live.
enum class Storage : uint8_t {
  Activation,  // float rows in the graph's workspace at `offset` (in floats)
  Weight,      // read-only bytes in the model (mmap), any tensor type
  Input,       // int32 ids owned by the graph: input(tensor)
  Cache,       // the session's KV cache rows (F32 or F16) in a backend's Buffer, written by Copy
};

using TensorId = int32_t;
inline constexpr TensorId kNone = -1;

/// A 2-D row-major tensor: `rows` rows of `cols` contiguous values.
struct Tensor {
  TensorType type = TensorType::F32;
  int64_t cols = 0;
  int64_t rows = 0;
  Storage storage = Storage::Activation;
  const void* data = nullptr;  // Weight
  Buffer* cache = nullptr;     // Cache: host memory on the CPU; a GPU backend resolves its own
  size_t offset = 0;           // Activation: floats into the workspace; Input: input index
};

struct RmsNormParams {
  float eps;
};
struct RopeParams {
  int n_head;       // heads packed in each row
  int head_dim;     // values per head
  int n_rot;        // leading dims of each head that rotate (<= head_dim)
  float freq_base;  // theta_i = pos * freq_scale * freq_base^(-2i/n_rot) / factor_i
  float freq_scale;
  bool neox;  // pairs (i, i + n_rot/2) instead of (2i, 2i+1)
  // YaRN (ext_factor 0: none): pair i's angle blends the scaled and the unscaled one by
  // ext_factor * ramp(i), ramp 1 below pair corr_low falling to 0 at corr_high; cos and
  // sin are multiplied by mscale.
  float ext_factor = 0.0f;
  float corr_low = 0.0f, corr_high = 0.0f;
  float mscale = 1.0f;
};
struct AttentionParams {
  int n_head, n_head_kv;  // query heads; kv heads (GQA: n_head % n_head_kv == 0)
  int head_dim_k, head_dim_v;
  float scale;           // applied to q.k
  int64_t window;        // sliding window in positions (0: none): key k visible to
                         // query p when p - window < k <= p
  float softcap = 0.0f;  // > 0: scores become softcap * tanh(score / softcap) (gemma2)
  // false (encoders): every query sees all keys of its segment, rows slot_row + [0, pos0 +
  // n_rows), as well as the cache before it; window must then be 0.
  bool causal = true;
  // Attention sinks (gpt-oss) are the node's fourth operand, not a parameter: [n_head]
  // logits s_h that join head h's softmax denominator, out = sum_j e^(x_j) v_j /
  // (sum_j e^(x_j) + e^(s_h)).
};
struct LayerNormParams {
  float eps;
};
struct ScaleParams {
  float factor;
};
/// How a route weighs the experts it chooses (the n_used of highest logit).
enum class ExpertGating : uint8_t {
  Softmax,        // softmax over all n_expert logits, then renormalized if `normalize`
  SoftmaxChosen,  // softmax over the chosen experts' logits only (gpt-oss)
};
/// Mixture-of-experts routing: the n_used experts of highest router logit, weighted as
/// `gating` says; with Softmax, their probabilities renormalized to sum 1 when `normalize`.
struct ExpertRouteParams {
  int n_used;
  bool normalize;
  ExpertGating gating = ExpertGating::Softmax;
};
struct ExpertMatMulParams {
  int n_expert;  // matrices stacked in the weight, each of w.rows / n_expert rows
};
struct SoftCapParams {
  float cap;  // > 0
};
/// gpt-oss's clamped SwiGLU (the values its models were trained with).
struct SwiGluOaiParams {
  float alpha = 1.702f;  // sigmoid slope
  float limit = 7.0f;    // gate clamped above, up clamped to [-limit, limit]
};
using Params = std::variant<std::monostate, RmsNormParams, RopeParams, AttentionParams, ScaleParams,
                            ExpertRouteParams, ExpertMatMulParams, SoftCapParams, SwiGluOaiParams,
                            LayerNormParams>;

struct Node {
  Op op;
  TensorId out;
  std::array<TensorId, 4> in = {kNone, kNone, kNone, kNone};
  int layer;  // -1: input embedding; 0..n_layer-1; n_layer: output head
  Params params;
};

/// One layer's KV cache as the session owns it: K and V rows [rows, n_head_kv * head_dim],
/// one slot of rows per sequence.
struct CacheView {
  Buffer* k = nullptr;
  Buffer* v = nullptr;
  TensorType type = TensorType::F32;
  int64_t rows = 0;
  int64_t k_cols = 0;
  int64_t v_cols = 0;
};

/// Where one token of a batch belongs: its position in its sequence, and the first KV
/// cache row of that sequence's slot. Its K and V go to cache row slot_row + pos; it
/// attends to the rows slot_row + [0, pos] (a sliding window keeps the last ones).
struct TokenPlace {
  int64_t pos = 0;
  int64_t slot_row = 0;
  int64_t cache_row() const { return slot_row + pos; }
  bool operator==(const TokenPlace&) const = default;
};

/// Batch rows [row0, row0 + n_rows) of one slot at consecutive positions pos0, pos0 + 1, ...:
/// the runs a batch's places fall into (one per sequence of a typical batch).
struct Segment {
  int64_t row0, n_rows, pos0, slot_row;
};

class Graph {
 public:
  /// A graph for one sequence's `n_tokens` tokens at positions pos0, pos0 + 1, ... (slot 0).
  Graph(int64_t pos0, int64_t n_tokens);
  /// A graph for tokens of one or more sequences, batch row i at places[i]. Throws
  /// tern::Error for a negative position or slot row.
  explicit Graph(std::vector<TokenPlace> places);

  int64_t n_tokens() const { return static_cast<int64_t>(places_.size()); }
  std::span<const TokenPlace> places() const { return places_; }
  /// The places as runs of consecutive positions of one slot, in row order.
  std::span<const Segment> segments() const { return segments_; }
  /// One past the last cache row any token writes or reads.
  int64_t cache_rows_used() const { return cache_rows_used_; }

  // Leaf tensors.
  TensorId weight(TensorType type, int64_t cols, int64_t rows, const void* data);
  TensorId input(std::vector<int32_t> ids);
  TensorId cache(TensorType type, int64_t cols, int64_t rows, Buffer& buffer);

  // Ops; each returns its (new, F32 activation) output unless noted.
  TensorId get_rows(TensorId table, TensorId ids);
  TensorId matmul(TensorId w, TensorId x);
  TensorId rms_norm(TensorId x, TensorId w, float eps);
  /// w and b: x's row width of values each.
  TensorId layer_norm(TensorId x, TensorId w, TensorId b, float eps);
  TensorId rope(TensorId x, TensorId freq_factors, const RopeParams& p);
  /// `sinks`: kNone, or F32 [n_head] attention sink logits (see AttentionParams).
  TensorId attention(TensorId q, TensorId k_cache, TensorId v_cache, const AttentionParams& p,
                     TensorId sinks = kNone);
  TensorId swiglu(TensorId gate, TensorId up);
  TensorId swiglu_oai(TensorId gate, TensorId up, const SwiGluOaiParams& p);
  TensorId geglu(TensorId gate, TensorId up);
  TensorId gelu(TensorId x);
  TensorId add(TensorId a, TensorId b);
  TensorId scale(TensorId x, float factor);
  /// A route [n, 2 * n_used]: columns [0, n_used) are the chosen experts' weights in
  /// descending probability order, columns [n_used, 2 * n_used) their indices as exact
  /// floats (one activation carries both to every backend).
  TensorId expert_route(TensorId logits, const ExpertRouteParams& p);
  /// Each token's chosen experts applied to it: w stacks n_expert matrices; x is [n, cols]
  /// (a token's row serves all its experts) or [n * n_used, cols] (a row per token and
  /// expert, as expert_matmul returns).
  TensorId expert_matmul(TensorId w, TensorId x, TensorId route, int n_expert);
  /// The experts' outputs y [n * n_used, cols] weighted by the route and summed per token,
  /// in route order.
  TensorId expert_mix(TensorId y, TensorId route);
  /// y [n * n_used, cols] plus, on row t * n_used + j, row e_tj of `bias` ([n_expert, cols],
  /// a weight stacking one bias per expert).
  TensorId expert_add(TensorId y, TensorId bias, TensorId route);
  /// cap * tanh(x / cap); cap > 0.
  TensorId soft_cap(TensorId x, float cap);
  /// Writes row i of x (one row per token) into row places()[i].cache_row() of `dst` (a
  /// cache tensor); returns nothing to read.
  void copy(TensorId x, TensorId dst);

  /// Subsequent nodes belong to `layer` (see Node::layer).
  void set_layer(int layer) { layer_ = layer; }
  /// Marks the result and assigns workspace offsets, reusing dead activations' space.
  void finish(TensorId result);

  const Tensor& tensor(TensorId id) const { return tensors_[static_cast<size_t>(id)]; }
  std::span<const Node> nodes() const { return nodes_; }
  std::span<const int32_t> ids(const Tensor& t) const { return inputs_[t.offset]; }
  TensorId result() const { return result_; }
  /// Floats of workspace the activations need (valid after finish()).
  size_t workspace_floats() const { return workspace_floats_; }

 private:
  TensorId add_tensor(const Tensor& t);
  TensorId activation(int64_t cols, int64_t rows);
  // Operands not given are kNone (a braced std::array would fill them with tensor 0).
  TensorId add_node(Op op, TensorId out, std::initializer_list<TensorId> in, Params params = {});
  void check_rows_match(Op op, TensorId a, TensorId b) const;
  void check_per_token(Op op, TensorId x) const;

  std::vector<TokenPlace> places_;
  std::vector<Segment> segments_;
  int64_t cache_rows_used_ = 0;
  int layer_ = -1;
  std::vector<Tensor> tensors_;
  std::vector<Node> nodes_;
  std::vector<std::vector<int32_t>> inputs_;
  TensorId result_ = kNone;
  size_t workspace_floats_ = 0;
};

}  // namespace tern::graph
