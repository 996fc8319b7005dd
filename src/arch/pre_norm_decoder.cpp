#include "arch/pre_norm_decoder.h"

#include <fmt/format.h>

#include "tern/error.h"

namespace tern {

namespace {

class PreNormDecoder final : public ArchModel {
 public:
  PreNormDecoder(const gguf::File& file, TensorVisitor& tensors, const PreNormDecoderDesc& desc)
      : desc_(desc) {
    spec_ = read_model_spec(file);
    if (desc.experts && spec_.n_expert == 0) {
      throw Error(fmt::format("{}: {} needs the metadata key '{}.expert_count'", file.name(),
                              spec_.arch, spec_.arch));
    }
    // One expert's width, as llama.cpp reads it: Mixtral-style llama files give it as
    // feed_forward_length; qwen3moe as expert_feed_forward_length, else n_ff / n_used.
    if (spec_.n_expert > 0 && !desc.experts) spec_.n_ff_exp = spec_.n_ff;
    if (spec_.n_expert > 0 && spec_.n_ff_exp == 0)
      spec_.n_ff_exp = spec_.n_ff / spec_.n_expert_used;
    if (desc.swa_pattern > 0 && spec_.sliding_window <= 0) {
      throw Error(fmt::format("{}: {} needs the metadata key '{}.attention.sliding_window'",
                              file.name(), spec_.arch, spec_.arch));
    }
    visit(tensors);
  }

  void build(graph::Graph& g, const BatchInputs& in) const override {
    blocks::pre_norm_decoder(g, in, spec_, head_, layers_, layer_ropes_, desc_.ffn);
  }

 private:
  // The one list of the model's tensors: loading, validation and size accounting.
  void visit(TensorVisitor& b) {
    const ModelSpec& s = spec_;
    blocks::bind_head(b, s, head_);
    // One rotation for every layer; llama3's frequency factors are shared by all.
    LayerRope rope{desc_.neox, s.rope_freq_base, s.rope_freq_scale, {}};
    if (desc_.rope_freqs) b.bind(rope.factors, "rope_freqs.weight", {s.n_rot / 2}, Need::Optional);
    layer_ropes_.assign(static_cast<size_t>(s.n_layer), rope);
    layers_.resize(static_cast<size_t>(s.n_layer));
    for (int il = 0; il < s.n_layer; ++il) {
      blocks::PreNormLayer& l = layers_[static_cast<size_t>(il)];
      b.set_layer(il);
      if (desc_.swa_pattern > 0 && blocks::is_sliding_layer(il, desc_.swa_pattern)) {
        l.window = s.sliding_window;
      }
      b.bind_layer(l.attn_norm, "attn_norm.weight", {s.n_embd});
      desc_.bind_qkv(b, s, l.attn);
      if (desc_.bind_attention_extras != nullptr) desc_.bind_attention_extras(b, s, l.attn);
      blocks::bind_attn_output(b, s, l.attn);
      b.bind_layer(l.ffn_norm, desc_.ffn_norm, {s.n_embd});
      if (s.n_expert > 0) {
        blocks::bind_experts(b, s, l.experts);
        if (desc_.bind_expert_extras != nullptr) desc_.bind_expert_extras(b, s, l.experts);
      } else {
        desc_.bind_feed_forward(b, s, l.ffn);
      }
    }
  }

  PreNormDecoderDesc desc_;
  blocks::HeadWeights head_;
  std::vector<blocks::PreNormLayer> layers_;
};

}  // namespace

std::unique_ptr<ArchModel> load_pre_norm_decoder(const gguf::File& file, TensorVisitor& tensors,
                                                 const PreNormDecoderDesc& desc) {
  return std::make_unique<PreNormDecoder>(file, tensors, desc);
}

}  // namespace tern
