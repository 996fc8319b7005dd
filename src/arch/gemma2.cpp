// gemma2: the gemma family (gemma_decoder.h) without q/k norms; attention scores and
// final logits soft-capped (cap * tanh(x / cap); defaults 50 and 30); sliding-window
// attention (default 4096 positions) on even layers, global attention on odd ones, the
// same RoPE on both unless the file sets rope.freq_base_swa.
#include "arch/gemma_decoder.h"

namespace tern {

std::unique_ptr<ArchModel> load_gemma2(const gguf::File& file, TensorVisitor& tensors) {
  return load_gemma_decoder(file, tensors,
                            {.swa_pattern = 2,
                             .default_window = 4096,
                             .swa_rope_base = std::nullopt,
                             .qk_norm = false,
                             .attn_softcap = 50.0f,
                             .final_softcap = 30.0f,
                             .n_layer_27b = 46});
}

// As Gemma 2 2B and 9B write them.
std::span<const ArchKey> gemma2_keys() {
  static const ArchKey keys[] = {
      {"attention.sliding_window", {uint32_t{4096}}},
      {"attention.sliding_window_pattern", {uint32_t{2}}},
      {"attn_logit_softcapping", {50.0f}},
      {"final_logit_softcapping", {30.0f}},
  };
  return keys;
}

}  // namespace tern
