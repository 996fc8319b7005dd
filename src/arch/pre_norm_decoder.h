// The llama family's model: embeddings -> pre-norm layers (attention, then gated FFN, each
// added to the residual) -> output head. llama, qwen2, qwen3, qwen3moe, phi3 and gpt-oss
// differ only in what this description says, so each of their files is one
// PreNormDecoderDesc. A layer's feed-forward is dense, or a mixture of experts where the
// file has expert_count.
#pragma once

#include <memory>

#include "arch/architecture.h"
#include "arch/blocks.h"

namespace tern {

using AttentionBinder = void (*)(TensorVisitor&, const ModelSpec&, blocks::AttentionWeights&);
using FeedForwardBinder = void (*)(TensorVisitor&, const ModelSpec&, blocks::FeedForwardWeights&);
using ExpertBinder = void (*)(TensorVisitor&, const ModelSpec&, blocks::ExpertWeights&);

struct PreNormDecoderDesc {
  bool neox = false;        // NeoX-style RoPE pairs
  bool rope_freqs = false;  // optional llama3 rope_freqs.weight shared by every layer
  /// Binds the current layer's q, k, v projections (separate, or fused as phi3's).
  AttentionBinder bind_qkv = blocks::bind_qkv;
  /// Binds the current layer's gate, up and down projections.
  FeedForwardBinder bind_feed_forward = blocks::bind_feed_forward;
  /// Binds the extra attention tensors of the current layer (biases, q/k norms, sinks); may
  /// be null.
  AttentionBinder bind_attention_extras = nullptr;
  /// The architecture is a mixture of experts (a file without expert_count is refused);
  /// otherwise the layers have experts only where the file counts some (Mixtral as llama).
  bool experts = false;
  /// Binds the extra expert tensors of the current layer (biases); may be null.
  ExpertBinder bind_expert_extras = nullptr;
  /// The activation, and how the router weighs the experts.
  blocks::FeedForwardConfig ffn = {};
  /// Name of the norm before the feed-forward (gpt-oss: "post_attention_norm.weight").
  const char* ffn_norm = "ffn_norm.weight";
  /// Sliding-window attention on the layers blocks::is_sliding_layer picks for this period
  /// (gpt-oss: 2, the even layers), over {arch}.attention.sliding_window positions (then
  /// required); 0: every layer attends to the whole context.
  int64_t swa_pattern = 0;
};

/// Reads `file`'s spec and names the model's tensors to `tensors`.
std::unique_ptr<ArchModel> load_pre_norm_decoder(const gguf::File& file, TensorVisitor& tensors,
                                                 const PreNormDecoderDesc& desc);

}  // namespace tern
