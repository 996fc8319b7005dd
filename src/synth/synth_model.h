// tern synth: writes a model of a real architecture with random weights in any shape and
// quantization mix, streaming every tensor to disk (nothing model-sized in memory). The
// tensor list comes from the architecture's own visitor, so it is exactly what tern loads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "quantize/quantize_model.h"
#include "synth/synth_shape.h"

namespace tern::synth {

struct SynthOptions {
  std::string arch = "llama";
  SynthShape shape;
  const quant::QuantMix* mix = nullptr;  // tensor types, as `tern quantize` would choose
  std::string vocab_from;  // GGUF file whose tokenizer.* keys are copied ("": byte vocab)
  uint64_t seed = 1;
  int n_threads = 1;
  std::function<void(const quant::QuantizeProgress&)> progress;  // optional
};

struct SynthReport {
  int64_t n_params = 0;
  size_t bytes = 0;  // tensor data
  int64_t n_tensors = 0;
};

/// Writes `out_path` (through a temporary file). Weights are N(0, 1/n_cols) per row from
/// a generator seeded by (seed, tensor name, row), so the file does not depend on the
/// thread count; norm weights are 1 and biases 0. Throws tern::Error for inconsistent
/// shapes or an unknown architecture.
SynthReport write_synthetic_model(const std::string& out_path, const SynthOptions& options);

}  // namespace tern::synth
