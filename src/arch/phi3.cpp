// phi3 (Phi-3, Phi-3.5, Phi-4 mini): the llama layout with q, k and v fused into attn_qkv
// and the FFN's gate and up fused into ffn_up (gate first), bound as row ranges of those
// matrices; NeoX RoPE over the first rope.dimension_count values of each head. llama.cpp
// ignores phi3's sliding_window (its SWA is disabled), so tern does too. LongRoPE files
// (rope_factors_long/short, the 128k-context models) are refused.
#include <fmt/format.h>

#include "arch/pre_norm_decoder.h"
#include "tern/error.h"

namespace tern {

std::unique_ptr<ArchModel> load_phi3(const gguf::File& file, TensorVisitor& tensors) {
  for (const char* name : {"rope_factors_long.weight", "rope_factors_short.weight"}) {
    if (file.find_tensor(name) != nullptr) {
      throw Error(fmt::format("{}: tensor '{}': LongRoPE (phi3 128k context) is not supported",
                              file.name(), name));
    }
  }
  return load_pre_norm_decoder(file, tensors,
                               {.neox = true,
                                .bind_qkv = blocks::bind_fused_qkv,
                                .bind_feed_forward = blocks::bind_fused_feed_forward});
}

}  // namespace tern
