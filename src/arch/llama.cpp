// llama (Llama 2/3, Mistral 7B, SmolLM2): pre-norm decoder with RMSNorm, normal RoPE
// (optionally llama3-style rope_freqs and linear scaling), GQA and SwiGLU. Tied
// embeddings when output.weight is absent.
#include "arch/pre_norm_decoder.h"

namespace tern {

std::unique_ptr<ArchModel> load_llama(const gguf::File& file, TensorVisitor& tensors) {
  return load_pre_norm_decoder(file, tensors, {.neox = false, .rope_freqs = true});
}

}  // namespace tern
