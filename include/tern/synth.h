// Synthetic models: a model of a real architecture with random weights in any shape and
// quantization mix, streamed to disk (nothing model-sized in memory), for measuring speed
// where no weights can be downloaded. The tensor list comes from the architecture's own
// visitor, so it is exactly what tern loads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/quantize.h"

namespace tern::synth {

/// A model's sizes: a preset's, or a preset's with some overridden ("custom").
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
  int64_t head_dim = 0;       // attention.key_length and value_length (0: n_embd / n_head)
  int64_t n_expert = 0;       // mixture of experts: experts per layer (0: dense)
  int64_t n_expert_used = 0;  // experts each token takes
  int64_t n_ff_exp = 0;       // one expert's feed-forward width
};

/// Presets: "135m" (SmolLM2-135M), "1b" (Llama 3.2 1B), "3b" (Llama 3.2 3B), "8b"
/// (Llama 3.1 8B), "70b" (Llama 3.1 70B) sizes, "30b-a3b" (Qwen3-30B-A3B: 128 experts,
/// 8 per token; for --arch qwen3moe) and "20b" (gpt-oss-20b: 32 experts, 4 per token; for
/// --arch gpt-oss).
const std::vector<SynthShape>& shape_presets();
/// The preset named `name`, or nullptr.
const SynthShape* find_shape(std::string_view name);

struct SynthOptions {
  std::string arch = "llama";  // general.architecture: one the registry lists
  SynthShape shape;
  std::string mix = "Q4_K_M";  // tensor types, as quant::quantize_model would choose them
  std::string vocab_from;      // GGUF file whose tokenizer.* keys are copied ("": byte vocab)
  /// "SUFFIX=VALUE" overrides of the "{arch}.SUFFIX" keys written (e.g.
  /// "attention.sliding_window=8"); the value is parsed as the key's type.
  std::vector<std::string> keys;
  uint64_t seed = 1;
  /// Biases ~ N(0, bias_std^2) instead of 0, so a reference test sees them (a golden of
  /// zero biases passes with the biases ignored).
  float bias_std = 0.0f;
  int n_threads = 1;
  /// Called between chunks of rows, on the calling thread (optional).
  std::function<void(const quant::QuantizeProgress&)> progress;
};

struct SynthReport {
  std::string_view mix;  // the mix's name as llama.cpp spells it ("Q4_K_M")
  int64_t n_params = 0;
  size_t bytes = 0;  // tensor data
  int64_t n_tensors = 0;
};

/// Writes `out_path` (through a temporary file). Weights are N(0, 1/n_cols) per row from
/// a generator seeded by (seed, tensor name, row), so the file does not depend on the
/// thread count; norm weights are 1 and biases 0 (or N(0, bias_std^2)). Throws tern::Error for
/// inconsistent shapes, an unknown architecture or mix, or write failures.
SynthReport write_synthetic_model(const std::string& out_path, const SynthOptions& options);

}  // namespace tern::synth
