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
  Weight attn_norm, wq, wk, wv, wo, q_norm, k_norm, post_attn_norm;
  Weight ffn_norm, gate, up, down, post_ffn_norm;
};

class Gemma3 final : public ArchModel {
 public:
  explicit Gemma3(const gguf::File& file) {
    spec_ = read_model_spec(file);
    WeightBinder binder(file);
    visit(binder);
    bound(binder);
  }

  void build(graph::Graph& g, const BatchInputs& in) const override {
    const ModelSpec& s = spec_;
    TensorId x = blocks::embed(g, tok_embd_, in.tokens);  // [n, n_embd]
    x = g.scale(x, std::sqrt(static_cast<float>(s.n_embd)));
    for (int il = 0; il < s.n_layer; ++il) {
      const Gemma3Layer& l = layers_[static_cast<size_t>(il)];
      g.set_layer(il);
      TensorId h = blocks::norm(g, x, l.attn_norm, s.rms_eps);
      blocks::AttentionWeights aw{l.wq, l.wk, l.wv, l.wo};
      aw.q_norm = l.q_norm;
      aw.k_norm = l.k_norm;
      h = blocks::attention(g, h, s, aw, layer_config(il), in.cache[static_cast<size_t>(il)]);
      x = g.add(x, blocks::norm(g, h, l.post_attn_norm, s.rms_eps));
      h = blocks::norm(g, x, l.ffn_norm, s.rms_eps);
      h = blocks::feed_forward(g, h, l.gate, l.up, l.down, blocks::Glu::GeluTanh);
      x = g.add(x, blocks::norm(g, h, l.post_ffn_norm, s.rms_eps));
    }
    g.set_layer(static_cast<int>(s.n_layer));
    blocks::output_head(g, x, in.output_rows, output_norm_, output_ ? output_ : tok_embd_,
                        s.rms_eps);
  }

 private:
  blocks::AttentionConfig layer_config(int il) const {
    bool global = (il + 1) % kSwaPattern == 0;
    blocks::AttentionConfig c;
    c.neox = true;
    c.rope_base = global ? spec_.rope_freq_base : kSwaRopeBase;
    c.rope_scale = global ? spec_.rope_freq_scale : 1.0f;
    c.scale = 1.0f / std::sqrt(static_cast<float>(spec_.head_dim_k));
    c.window = global ? 0 : spec_.sliding_window;
    return c;
  }

  // The one list of gemma3's tensors: loading, validation and size accounting.
  void visit(WeightBinder& b) {
    const ModelSpec& s = spec_;
    int64_t q_cols = int64_t{s.n_head} * s.head_dim_k;
    b.bind(tok_embd_, "token_embd.weight", {s.n_embd, s.n_vocab});
    b.bind(output_norm_, "output_norm.weight", {s.n_embd});
    b.bind(output_, "output.weight", {s.n_embd, s.n_vocab}, Need::Optional);
    layers_.resize(static_cast<size_t>(s.n_layer));
    for (int il = 0; il < s.n_layer; ++il) {
      Gemma3Layer& l = layers_[static_cast<size_t>(il)];
      b.set_layer(il);
      b.bind_layer(l.attn_norm, "attn_norm.weight", {s.n_embd});
      b.bind_layer(l.wq, "attn_q.weight", {s.n_embd, q_cols});
      b.bind_layer(l.wk, "attn_k.weight", {s.n_embd, s.k_cols()});
      b.bind_layer(l.wv, "attn_v.weight", {s.n_embd, s.v_cols()});
      b.bind_layer(l.q_norm, "attn_q_norm.weight", {s.head_dim_k});
      b.bind_layer(l.k_norm, "attn_k_norm.weight", {s.head_dim_k});
      b.bind_layer(l.wo, "attn_output.weight", {int64_t{s.n_head} * s.head_dim_v, s.n_embd});
      b.bind_layer(l.post_attn_norm, "post_attention_norm.weight", {s.n_embd});
      b.bind_layer(l.ffn_norm, "ffn_norm.weight", {s.n_embd});
      b.bind_layer(l.gate, "ffn_gate.weight", {s.n_embd, s.n_ff});
      b.bind_layer(l.up, "ffn_up.weight", {s.n_embd, s.n_ff});
      b.bind_layer(l.down, "ffn_down.weight", {s.n_ff, s.n_embd});
      b.bind_layer(l.post_ffn_norm, "post_ffw_norm.weight", {s.n_embd});
    }
  }

  Weight tok_embd_, output_norm_, output_;
  std::vector<Gemma3Layer> layers_;
};

}  // namespace

std::unique_ptr<ArchModel> load_gemma3(const gguf::File& file) {
  return std::make_unique<Gemma3>(file);
}

}  // namespace tern
