// Planning a quantization (tern/quantize.h): the type a llama.cpp-style mix gives each
// tensor of a file. tern synth plans its random weights with the same rules.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "gguf/file.h"
#include "quantize/quant_mix.h"
#include "tern/quantize.h"

namespace tern::quant {

/// One tensor's fate: its new type (the source type when kept as is).
struct TensorPlan {
  const gguf::TensorInfo* info = nullptr;
  TensorType type = TensorType::F32;
  bool convert = false;  // false: bytes copied unchanged
};

/// What choosing a weight's type needs to know about the whole model.
struct ModelPlace {
  int n_layer = 0;
  int n_gqa = 1;            // n_head / n_head_kv
  bool has_output = false;  // false: token_embd.weight doubles as the output head
};

/// True for the tensors a mix converts: 2-D (or higher) weights; vectors (norms, biases,
/// rope factors) keep their type.
bool is_quantizable(std::string_view name, int n_dims, int64_t n_rows);

/// The type `mix` gives the weight `name` (rows of `n_cols` values) in a model at `place`:
/// its role's type, fitted to the row length.
TensorType weight_type(const QuantMix& mix, std::string_view name, int64_t n_cols,
                       const ModelPlace& place);

/// The type of every tensor of `file` under `mix`: 2-D weights get the mix's type for their
/// role (then fitted to their row length); norms, biases and other 1-D tensors keep theirs.
std::vector<TensorPlan> plan_quantization(const gguf::File& file, const QuantMix& mix);

}  // namespace tern::quant
