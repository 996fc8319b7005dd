// qwen3: the llama layout plus per-head RMS norms of q and k (before RoPE), NeoX RoPE.
#include "arch/pre_norm_decoder.h"

namespace tern {

std::unique_ptr<ArchModel> load_qwen3(const gguf::File& file, TensorVisitor& tensors) {
  return load_pre_norm_decoder(file, tensors,
                               {.neox = true, .bind_attention_extras = blocks::bind_qk_norm});
}

}  // namespace tern
