// qwen2: the llama layout plus q/k/v biases, with NeoX-style RoPE.
#include "arch/pre_norm_decoder.h"

namespace tern {

std::unique_ptr<ArchModel> load_qwen2(const gguf::File& file, TensorVisitor& tensors) {
  return load_pre_norm_decoder(file, tensors,
                               {.neox = true, .bind_attention_extras = blocks::bind_qkv_bias});
}

}  // namespace tern
