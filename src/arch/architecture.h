// ArchModel: one loaded architecture (its ModelSpec and weights) that builds the forward
// graph of a micro-batch. One file per architecture; the registry maps
// general.architecture to its loader.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "gguf/file.h"
#include "graph/graph.h"
#include "model/model_spec.h"
#include "model/weights.h"

namespace tern {

/// What one micro-batch asks of the forward pass (the tokens' places are the graph's).
struct BatchInputs {
  std::span<const int32_t> tokens;          // [n_tokens], ids < n_vocab
  std::vector<int32_t> output_rows;         // batch rows whose outputs are wanted, ascending
  std::span<const graph::CacheView> cache;  // per layer, rows >= the graph's cache_rows_used()
  bool hidden_states = false;               // outputs: the final norm's rows [n_embd], not logits
};

/// How one layer rotates its keys (RoPE) before they enter the KV cache. The graph
/// (blocks::attention) and a context shift (Session::shift, which rotates cached keys to
/// new positions) both read it, so the two rotations cannot disagree.
struct LayerRope {
  bool neox = false;      // NeoX pairs (i, i + n_rot/2) instead of (2i, 2i+1)
  float base = 10000.0f;  // freq_base
  float scale = 1.0f;     // linear position scaling (freq_scale)
  Weight factors;         // optional per-pair frequency divisors [n_rot / 2] (llama3)

  /// The rope of `n_head` heads of head_dim_k values (q: n_head, k: n_head_kv), with the
  /// file's YaRN scaling where it asks for it (arch/rope.cpp).
  graph::RopeParams params(const ModelSpec& spec, int n_head) const;
};

class ArchModel {
 public:
  virtual ~ArchModel() = default;
  const ModelSpec& spec() const { return spec_; }
  /// Bytes of the weights the architecture uses, in all and per layer.
  size_t weight_bytes() const { return weight_bytes_; }
  /// Bytes one token's forward pass reads: weight_bytes() less the experts it does not
  /// choose (n_expert_used of each layer's n_expert) and, with an output head of its own,
  /// the embedding table (one row of it is looked up).
  size_t token_bytes() const { return token_bytes_; }
  const std::vector<size_t>& layer_bytes() const { return layer_bytes_; }
  /// A weight that matrix products read, and the graph layer that reads it.
  struct Matrix {
    const gguf::TensorInfo* info;
    int layer;  // 0..n_layer-1, or n_layer: the output head
  };
  /// The weights matrix products read (what a backend prepares for its layers): every
  /// bound tensor of two or more dimensions, except biases (gpt-oss's per-expert ones) and
  /// token embeddings that are only looked up (an untied output head).
  const std::vector<Matrix>& matrices() const { return matrices_; }
  /// Names of file tensors the architecture does not use.
  const std::vector<std::string>& unused_tensors() const { return unused_tensors_; }
  /// Each layer's key rotation, [n_layer]: what the graph applies and a context shift
  /// applies again.
  std::span<const LayerRope> layer_ropes() const { return layer_ropes_; }

  /// Whether this is an encoder (bert): no logits, only hidden states (embeddings
  /// sessions), and only on the CPU, whose backend alone has its ops.
  virtual bool encoder() const { return false; }

  /// Adds the forward pass of one micro-batch to `g` (which must be for
  /// in.tokens.size() tokens) and finishes it with the logits
  /// [output_rows.size(), n_vocab] as its result (hidden_states: [output_rows.size(), n_embd]).
  virtual void build(graph::Graph& g, const BatchInputs& in) const = 0;

 protected:
  ModelSpec spec_;
  std::vector<LayerRope> layer_ropes_;  // filled once by each architecture's visit()

 private:
  friend std::unique_ptr<ArchModel> load_architecture(const gguf::File& file);
  /// Records the binder's accounting once the architecture has bound its tensors.
  void bound(const WeightBinder& binder);

  size_t weight_bytes_ = 0;
  size_t token_bytes_ = 0;
  std::vector<size_t> layer_bytes_;
  std::vector<std::string> unused_tensors_;
  std::vector<Matrix> matrices_;
};

/// A metadata key an architecture reads beyond the shared ones of ModelSpec, with the
/// value tern synth writes for it (that of the architecture's real models).
struct ArchKey {
  std::string_view suffix;  // after "{arch}."
  gguf::Value value;
};

/// Reads `file`'s spec and binds its weights with the architecture general.architecture
/// names. Throws tern::Error for unknown architectures and invalid tensors.
std::unique_ptr<ArchModel> load_architecture(const gguf::File& file);

/// The tensors the architecture general.architecture names would bind for `file`'s spec,
/// from the same visitor (the file needs metadata only). Throws tern::Error for unknown
/// architectures and invalid metadata.
std::vector<NamedTensor> list_architecture_tensors(const gguf::File& file);

/// The extra keys architecture `name` reads (empty when it reads only ModelSpec's).
/// Throws tern::Error for unknown architectures.
std::span<const ArchKey> architecture_keys(std::string_view name);

/// Names of the supported architectures, in registry order.
std::vector<std::string_view> architecture_names();

}  // namespace tern
