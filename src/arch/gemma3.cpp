// gemma3: embeddings scaled by sqrt(n_embd); per-head q/k norms; post-attention and
// post-FFN norms; GeGLU (tanh GELU); head sizes from key_length/value_length; sliding-
// window attention on five of every six layers (layer i is global when (i + 1) % 6 == 0)
// with RoPE base 10000 there and rope.freq_base (and its scaling) on global layers.
#include <cmath>

#include "arch/architecture.h"
#include "arch/blocks.h"

namespace tern {

namespace {

using graph::TensorId;

constexpr int kSwaPattern = 6;            // every sixth layer attends globally
constexpr float kSwaRopeBase = 10000.0f;  // RoPE base of the sliding-window layers

struct Gemma3Layer {
  Weight attn_norm, post_attn_norm, ffn_norm, post_ffn_norm;
  blocks::AttentionWeights attn;
  blocks::FeedForwardWeights ffn;
};

class Gemma3 final : public ArchModel {
 public:
  Gemma3(const gguf::File& file, TensorVisitor& tensors) {
    spec_ = read_model_spec(file);
    visit(tensors);
  }

  void build(graph::Graph& g, const BatchInputs& in) const override {
    const ModelSpec& s = spec_;
    TensorId x = blocks::embed(g, head_.tok_embd, in.tokens);  // [n, n_embd]
    x = g.scale(x, std::sqrt(static_cast<float>(s.n_embd)));
    for (int il = 0; il < s.n_layer; ++il) {
      const Gemma3Layer& l = layers_[static_cast<size_t>(il)];
      g.set_layer(il);
      TensorId h = blocks::norm(g, x, l.attn_norm, s.rms_eps);
      h = blocks::attention(g, h, s, l.attn, layer_config(il), in.cache[static_cast<size_t>(il)]);
      x = g.add(x, blocks::norm(g, h, l.post_attn_norm, s.rms_eps));
      h = blocks::norm(g, x, l.ffn_norm, s.rms_eps);
      h = blocks::feed_forward(g, h, l.ffn, blocks::Glu::GeluTanh);
      x = g.add(x, blocks::norm(g, h, l.post_ffn_norm, s.rms_eps));
    }
    g.set_layer(static_cast<int>(s.n_layer));
    blocks::output_head(g, x, in.output_rows, head_, s.rms_eps);
  }

 private:
  static bool is_global(int il) { return (il + 1) % kSwaPattern == 0; }

  blocks::AttentionConfig layer_config(int il) const {
    bool global = is_global(il);
    blocks::AttentionConfig c;
    c.rope = layer_ropes_[static_cast<size_t>(il)];
    c.scale = 1.0f / std::sqrt(static_cast<float>(spec_.head_dim_k));
    c.window = global ? 0 : spec_.sliding_window;
    return c;
  }

  // The one list of gemma3's tensors: loading, validation and size accounting.
  void visit(TensorVisitor& b) {
    const ModelSpec& s = spec_;
    blocks::bind_head(b, s, head_);
    layers_.resize(static_cast<size_t>(s.n_layer));
    for (int il = 0; il < s.n_layer; ++il) {
      Gemma3Layer& l = layers_[static_cast<size_t>(il)];
      bool global = is_global(il);
      layer_ropes_.push_back({.neox = true,
                              .base = global ? s.rope_freq_base : kSwaRopeBase,
                              .scale = global ? s.rope_freq_scale : 1.0f});
      b.set_layer(il);
      b.bind_layer(l.attn_norm, "attn_norm.weight", {s.n_embd});
      blocks::bind_qkv(b, s, l.attn);
      blocks::bind_qk_norm(b, s, l.attn);
      blocks::bind_attn_output(b, s, l.attn);
      b.bind_layer(l.post_attn_norm, "post_attention_norm.weight", {s.n_embd});
      b.bind_layer(l.ffn_norm, "ffn_norm.weight", {s.n_embd});
      blocks::bind_feed_forward(b, s, l.ffn);
      b.bind_layer(l.post_ffn_norm, "post_ffw_norm.weight", {s.n_embd});
    }
  }

  blocks::HeadWeights head_;
  std::vector<Gemma3Layer> layers_;
};

}  // namespace

std::unique_ptr<ArchModel> load_gemma3(const gguf::File& file, TensorVisitor& tensors) {
  return std::make_unique<Gemma3>(file, tensors);
}

}  // namespace tern
