// qwen3: the llama layout plus per-head RMS norms of q and k (before RoPE), NeoX RoPE.
#include "arch/architecture.h"
#include "arch/blocks.h"

namespace tern {

namespace {

class Qwen3 final : public ArchModel {
 public:
  explicit Qwen3(const gguf::File& file) {
    spec_ = read_model_spec(file);
    WeightBinder binder(file);
    visit(binder);
    bound(binder);
  }

  void build(graph::Graph& g, const BatchInputs& in) const override {
    blocks::AttentionConfig config{true, spec_.rope_freq_base, spec_.rope_freq_scale};
    blocks::pre_norm_decoder(g, in, spec_, head_, layers_, config, blocks::Glu::Silu);
  }

 private:
  // The one list of qwen3's tensors: loading, validation and size accounting.
  void visit(WeightBinder& b) {
    const ModelSpec& s = spec_;
    blocks::bind_head(b, s, head_);
    layers_.resize(static_cast<size_t>(s.n_layer));
    for (int il = 0; il < s.n_layer; ++il) {
      blocks::PreNormLayer& l = layers_[static_cast<size_t>(il)];
      b.set_layer(il);
      b.bind_layer(l.attn_norm, "attn_norm.weight", {s.n_embd});
      blocks::bind_qkv(b, s, l.attn);
      blocks::bind_qk_norm(b, s, l.attn);
      blocks::bind_attn_output(b, s, l.attn);
      b.bind_layer(l.ffn_norm, "ffn_norm.weight", {s.n_embd});
      blocks::bind_feed_forward(b, s, l.ffn);
    }
  }

  blocks::HeadWeights head_;
  std::vector<blocks::PreNormLayer> layers_;
};

}  // namespace

std::unique_ptr<ArchModel> load_qwen3(const gguf::File& file) {
  return std::make_unique<Qwen3>(file);
}

}  // namespace tern
