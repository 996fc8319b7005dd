// llama (Llama 2/3, Mistral 7B, SmolLM2): pre-norm decoder with RMSNorm, normal RoPE
// (optionally llama3-style rope_freqs and linear scaling), GQA and SwiGLU. Tied
// embeddings when output.weight is absent.
#include "arch/architecture.h"
#include "arch/blocks.h"

namespace tern {

namespace {

class Llama final : public ArchModel {
 public:
  explicit Llama(const gguf::File& file) {
    spec_ = read_model_spec(file);
    WeightBinder binder(file);
    visit(binder);
    bound(binder);
  }

  void build(graph::Graph& g, const BatchInputs& in) const override {
    blocks::AttentionConfig config{false, spec_.rope_freq_base, spec_.rope_freq_scale};
    blocks::pre_norm_decoder(g, in, spec_, head_, layers_, config, blocks::Glu::Silu);
  }

 private:
  // The one list of llama's tensors: loading, validation and size accounting.
  void visit(WeightBinder& b) {
    const ModelSpec& s = spec_;
    blocks::bind_head(b, s, head_);
    Weight rope_freqs;  // llama3: per-pair frequency factors shared by every layer
    b.bind(rope_freqs, "rope_freqs.weight", {s.n_rot / 2}, Need::Optional);
    layers_.resize(static_cast<size_t>(s.n_layer));
    for (int il = 0; il < s.n_layer; ++il) {
      blocks::PreNormLayer& l = layers_[static_cast<size_t>(il)];
      b.set_layer(il);
      b.bind_layer(l.attn_norm, "attn_norm.weight", {s.n_embd});
      blocks::bind_qkv(b, s, l.attn);
      blocks::bind_attn_output(b, s, l.attn);
      l.attn.rope_freqs = rope_freqs;
      b.bind_layer(l.ffn_norm, "ffn_norm.weight", {s.n_embd});
      blocks::bind_feed_forward(b, s, l.ffn);
    }
  }

  blocks::HeadWeights head_;
  std::vector<blocks::PreNormLayer> layers_;
};

}  // namespace

std::unique_ptr<ArchModel> load_llama(const gguf::File& file) {
  return std::make_unique<Llama>(file);
}

}  // namespace tern
