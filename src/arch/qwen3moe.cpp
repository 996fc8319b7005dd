// qwen3moe (Qwen3-30B-A3B and kin): qwen3's attention (per-head q/k RMS norms, NeoX RoPE)
// with a routed mixture of experts in place of the dense feed-forward.
#include "arch/pre_norm_decoder.h"

namespace tern {

std::unique_ptr<ArchModel> load_qwen3moe(const gguf::File& file, TensorVisitor& tensors) {
  return load_pre_norm_decoder(file, tensors,
                               {.neox = true,
                                .bind_attention_extras = blocks::bind_qk_norm,
                                .experts = true});
}

}  // namespace tern
