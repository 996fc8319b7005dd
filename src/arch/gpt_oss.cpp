// gpt-oss (OpenAI gpt-oss-20b and -120b; llama.cpp's LLM_ARCH_OPENAI_MOE): a pre-norm
// mixture of experts. Attention has q, k, v and output biases, NeoX RoPE (YaRN-scaled in
// the released files: rope.scaling.*, which ModelSpec reads for every architecture), and a
// learned sink logit per query head that joins each softmax's denominator (attn_sinks); even layers
// slide over attention.sliding_window positions, odd ones see the whole context. The norm
// before the experts is named post_attention_norm. The router has a bias and weighs its
// top-k experts by a softmax over their logits alone; each expert's gate, up and down
// products have biases, and the activation is the clamped SwiGLU gpt-oss was trained with
// (alpha 1.702, limit 7). The output head is untied.
#include "arch/pre_norm_decoder.h"

namespace tern {

namespace {

void bind_attention_extras(TensorVisitor& b, const ModelSpec& s, blocks::AttentionWeights& w) {
  blocks::bind_qkv_bias(b, s, w);
  b.bind_layer(w.bo, "attn_output.bias", {s.n_embd});
  b.bind_layer(w.sinks, "attn_sinks.weight", {s.n_head});
}

}  // namespace

std::unique_ptr<ArchModel> load_gpt_oss(const gguf::File& file, TensorVisitor& tensors) {
  return load_pre_norm_decoder(
      file, tensors,
      {.neox = true,
       .bind_attention_extras = bind_attention_extras,
       .experts = true,
       .bind_expert_extras = blocks::bind_expert_biases,
       .ffn = {.glu = blocks::Glu::SiluOai, .gating = graph::ExpertGating::SoftmaxChosen},
       .ffn_norm = "post_attention_norm.weight",
       .swa_pattern = 2});
}

// As gpt-oss-20b and -120b write them: a window of 128 positions, and YaRN stretching
// the 4096 positions they were trained on by 32 (to the 131072 of context_length).
std::span<const ArchKey> gpt_oss_keys() {
  static const ArchKey keys[] = {
      {"attention.sliding_window", {uint32_t{128}}},
      {"rope.scaling.type", {std::string_view("yarn")}},
      {"rope.scaling.factor", {32.0f}},
      {"rope.scaling.original_context_length", {uint32_t{4096}}},
  };
  return keys;
}

}  // namespace tern
