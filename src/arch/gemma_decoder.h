// The gemma family's model (gemma2, gemma3): embeddings scaled by sqrt(n_embd) -> layers
// with "sandwich" norms (attention and FFN each normalized before and after, then added to
// the residual), GeGLU, NeoX RoPE, sliding-window attention on all but every n-th layer
// -> output head with optional final soft-capping. The two differ only in what this
// description says, so each of their files is one GemmaDesc plus its metadata keys.
#pragma once

#include <memory>
#include <optional>

#include "arch/architecture.h"

namespace tern {

struct GemmaDesc {
  /// Default of {arch}.attention.sliding_window_pattern: layer il is global when
  /// il % pattern == pattern - 1, sliding otherwise.
  int64_t swa_pattern = 0;
  /// Default of {arch}.attention.sliding_window when absent; 0: no sliding window at all
  /// (then every layer is global with the global RoPE).
  int64_t default_window = 0;
  /// RoPE base of the sliding layers when {arch}.rope.freq_base_swa is absent; nullopt:
  /// the global rope.freq_base (and its scaling).
  std::optional<float> swa_rope_base;
  bool qk_norm = false;  // per-head RMS norms of q and k (gemma3)
  /// Default of {arch}.attn_logit_softcapping; nullopt: the architecture does not cap
  /// attention scores (the key is not read).
  std::optional<float> attn_softcap;
  float final_softcap = 0.0f;  // default of {arch}.final_logit_softcapping; 0: none
  /// The 27B model's layer count: its queries are scaled by 1/sqrt(n_embd / n_head)
  /// instead of 1/sqrt(key_length) (gemma_pytorch's query_pre_attn_scalar).
  int64_t n_layer_27b = 0;
};

/// Reads `file`'s spec and the family's keys (with the defaults above) and names the
/// model's tensors to `tensors`.
std::unique_ptr<ArchModel> load_gemma_decoder(const gguf::File& file, TensorVisitor& tensors,
                                              const GemmaDesc& desc);

}  // namespace tern
