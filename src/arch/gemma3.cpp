// gemma3: the gemma family (gemma_decoder.h) with per-head q/k norms; sliding-window
// attention on five of every six layers (layer i is global when i % 6 == 5) with RoPE base
// 10000 there, and none at all when the file has no sliding window; no attention soft-cap,
// a final one only when the file sets it.
#include "arch/gemma_decoder.h"

namespace tern {

std::unique_ptr<ArchModel> load_gemma3(const gguf::File& file, TensorVisitor& tensors) {
  return load_gemma_decoder(file, tensors,
                            {.swa_pattern = 6,
                             .default_window = 0,
                             .swa_rope_base = 10000.0f,
                             .qk_norm = true,
                             .attn_softcap = std::nullopt,
                             .final_softcap = 0.0f,
                             .n_layer_27b = 62});
}

// As Gemma 3 270M and 1B write them.
std::span<const ArchKey> gemma3_keys() {
  static const ArchKey keys[] = {
      {"attention.sliding_window", {uint32_t{512}}},
      {"attention.sliding_window_pattern", {uint32_t{6}}},
      {"rope.freq_base_swa", {10000.0f}},
  };
  return keys;
}

}  // namespace tern
