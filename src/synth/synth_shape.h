// Model shapes for `tern synth`: presets with the sizes of common real models, and the
// metadata keys that describe a shape to the loader.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace tern::synth {

struct SynthShape {
  std::string_view name;  // preset name ("1b"), or "custom"
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t n_ctx_train = 4096;
  float rope_freq_base = 10000.0f;
  bool tied = false;  // output head shares token_embd.weight
};

/// Presets: "135m" (SmolLM2-135M), "1b" (Llama 3.2 1B), "3b" (Llama 3.2 3B), "8b"
/// (Llama 3.1 8B), "70b" (Llama 3.1 70B) sizes.
const std::vector<SynthShape>& shape_presets();
/// The preset named `name`, or nullptr.
const SynthShape* find_shape(std::string_view name);

}  // namespace tern::synth
