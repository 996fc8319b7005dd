#include "arch/gemma_decoder.h"

#include <fmt/format.h>

#include <cmath>

#include "arch/blocks.h"
#include "tern/error.h"

namespace tern {

namespace {

using graph::TensorId;

// The family's hyperparameters beyond ModelSpec, with llama.cpp's defaults for keys a
// file omits.
struct GemmaParams {
  int64_t swa_pattern = 0;  // 0: every layer slides (when there is a window)
  float swa_rope_base = 0.0f, swa_rope_scale = 1.0f;
  float attn_softcap = 0.0f, final_softcap = 0.0f;  // 0: none
  float query_scale = 0.0f;
};

GemmaParams read_params(const gguf::File& file, ModelSpec& s, const GemmaDesc& d) {
  SpecReader r(file, s.arch);
  GemmaParams p;
  // An architecture that always slides needs a window of at least one position.
  s.sliding_window =
      r.get_or("attention.sliding_window", d.default_window, d.default_window > 0 ? 1 : 0);
  const gguf::Value* pattern = file.find(r.key("attention.sliding_window_pattern"));
  if (pattern != nullptr && pattern->type() == gguf::ValueType::Array) {
    throw Error(fmt::format("{}: metadata key '{}' as a per-layer array is not supported",
                            file.name(), r.key("attention.sliding_window_pattern")));
  }
  p.swa_pattern = r.get_or("attention.sliding_window_pattern", d.swa_pattern, 0);
  p.swa_rope_base =
      r.get_positive_float_or("rope.freq_base_swa", d.swa_rope_base.value_or(s.rope_freq_base));
  p.swa_rope_scale = d.swa_rope_base ? 1.0f : s.rope_freq_scale;
  if (d.attn_softcap)
    p.attn_softcap = r.get_positive_float_or("attn_logit_softcapping", *d.attn_softcap);
  p.final_softcap = d.final_softcap > 0.0f
                        ? r.get_positive_float_or("final_logit_softcapping", d.final_softcap)
                        : r.get_non_negative_float_or("final_logit_softcapping", 0.0f);
  int64_t query_dim = s.n_layer == d.n_layer_27b ? s.n_embd / s.n_head : s.head_dim_k;
  p.query_scale = 1.0f / std::sqrt(static_cast<float>(query_dim));
  return p;
}

struct GemmaLayer {
  Weight attn_norm, post_attn_norm, ffn_norm, post_ffn_norm;
  blocks::AttentionWeights attn;
  blocks::FeedForwardWeights ffn;
};

class GemmaDecoder final : public ArchModel {
 public:
  GemmaDecoder(const gguf::File& file, TensorVisitor& tensors, const GemmaDesc& desc)
      : desc_(desc) {
    spec_ = read_model_spec(file);
    params_ = read_params(file, spec_, desc);
    visit(tensors);
  }

  void build(graph::Graph& g, const BatchInputs& in) const override {
    const ModelSpec& s = spec_;
    TensorId x = blocks::embed(g, head_.tok_embd, in.tokens);  // [n, n_embd]
    x = g.scale(x, std::sqrt(static_cast<float>(s.n_embd)));
    for (int il = 0; il < s.n_layer; ++il) {
      const GemmaLayer& l = layers_[static_cast<size_t>(il)];
      g.set_layer(il);
      TensorId h = blocks::norm(g, x, l.attn_norm, s.rms_eps);
      h = blocks::attention(g, h, s, l.attn, layer_config(il), in.cache[static_cast<size_t>(il)]);
      x = g.add(x, blocks::norm(g, h, l.post_attn_norm, s.rms_eps));
      h = blocks::norm(g, x, l.ffn_norm, s.rms_eps);
      h = blocks::feed_forward(g, h, l.ffn, blocks::Glu::GeluTanh);
      x = g.add(x, blocks::norm(g, h, l.post_ffn_norm, s.rms_eps));
    }
    g.set_layer(static_cast<int>(s.n_layer));
    blocks::output_head(g, x, in, head_, s.rms_eps, params_.final_softcap);
  }

 private:
  bool is_sliding(int il) const {
    return spec_.sliding_window != 0 && blocks::is_sliding_layer(il, params_.swa_pattern);
  }

  blocks::AttentionConfig layer_config(int il) const {
    blocks::AttentionConfig c;
    c.rope = layer_ropes_[static_cast<size_t>(il)];
    c.scale = params_.query_scale;
    c.window = is_sliding(il) ? spec_.sliding_window : 0;
    c.softcap = params_.attn_softcap;
    return c;
  }

  // The one list of the model's tensors: loading, validation and size accounting.
  void visit(TensorVisitor& b) {
    const ModelSpec& s = spec_;
    blocks::bind_head(b, s, head_);
    layers_.resize(static_cast<size_t>(s.n_layer));
    for (int il = 0; il < s.n_layer; ++il) {
      GemmaLayer& l = layers_[static_cast<size_t>(il)];
      bool sliding = is_sliding(il);
      layer_ropes_.push_back({.neox = true,
                              .base = sliding ? params_.swa_rope_base : s.rope_freq_base,
                              .scale = sliding ? params_.swa_rope_scale : s.rope_freq_scale});
      b.set_layer(il);
      b.bind_layer(l.attn_norm, "attn_norm.weight", {s.n_embd});
      blocks::bind_qkv(b, s, l.attn);
      if (desc_.qk_norm) blocks::bind_qk_norm(b, s, l.attn);
      blocks::bind_attn_output(b, s, l.attn);
      b.bind_layer(l.post_attn_norm, "post_attention_norm.weight", {s.n_embd});
      b.bind_layer(l.ffn_norm, "ffn_norm.weight", {s.n_embd});
      blocks::bind_feed_forward(b, s, l.ffn);
      b.bind_layer(l.post_ffn_norm, "post_ffw_norm.weight", {s.n_embd});
    }
  }

  GemmaDesc desc_;
  GemmaParams params_;
  blocks::HeadWeights head_;
  std::vector<GemmaLayer> layers_;
};

}  // namespace

std::unique_ptr<ArchModel> load_gemma_decoder(const gguf::File& file, TensorVisitor& tensors,
                                              const GemmaDesc& desc) {
  return std::make_unique<GemmaDecoder>(file, tensors, desc);
}

}  // namespace tern
