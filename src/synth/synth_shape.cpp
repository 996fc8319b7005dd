#include "tern/synth.h"

namespace tern::synth {

const std::vector<SynthShape>& shape_presets() {
  // Sizes as the public configs of these models give them (vocab, embd, layers, heads,
  // kv heads, ffn, trained context, rope base, tied output; head size and experts).
  static const std::vector<SynthShape> presets = {
      {"135m", 49152, 576, 30, 9, 3, 1536, 8192, 100000.0f, true},
      {"1b", 128256, 2048, 16, 32, 8, 8192, 131072, 500000.0f, true},
      {"3b", 128256, 3072, 28, 24, 8, 8192, 131072, 500000.0f, true},
      {"8b", 128256, 4096, 32, 32, 8, 14336, 131072, 500000.0f, false},
      {"70b", 128256, 8192, 80, 64, 8, 28672, 131072, 500000.0f, false},
      {.name = "30b-a3b",
       .n_vocab = 151936,
       .n_embd = 2048,
       .n_layer = 48,
       .n_head = 32,
       .n_head_kv = 4,
       .n_ff = 6144,
       .n_ctx_train = 40960,
       .rope_freq_base = 1000000.0f,
       .tied = false,
       .head_dim = 128,
       .n_expert = 128,
       .n_expert_used = 8,
       .n_ff_exp = 768},
      {.name = "20b",  // gpt-oss-20b
       .n_vocab = 201088,
       .n_embd = 2880,
       .n_layer = 24,
       .n_head = 64,
       .n_head_kv = 8,
       .n_ff = 2880,
       .n_ctx_train = 131072,
       .rope_freq_base = 150000.0f,
       .tied = false,
       .head_dim = 64,
       .n_expert = 32,
       .n_expert_used = 4,
       .n_ff_exp = 2880},
  };
  return presets;
}

const SynthShape* find_shape(std::string_view name) {
  for (const SynthShape& s : shape_presets()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace tern::synth
