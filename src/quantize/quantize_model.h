// Quantizes a GGUF model file into another with a llama.cpp-style mix: plans a type per
// tensor, copies the metadata (general.file_type updated) and streams every tensor through
// the reference quantizers on several threads into a temporary file renamed at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/file.h"
#include "quantize/quant_mix.h"

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

struct QuantizeProgress {
  size_t tensor = 0;  // index of the tensor being written
  size_t n_tensors = 0;
  std::string_view name;
  int64_t values_done = 0;  // over the whole model
  int64_t values_total = 0;
};

struct QuantizeOptions {
  int n_threads = 1;
  /// Allow converting tensors that are already quantized (lossy twice over).
  bool allow_requantize = false;
  std::function<void(const QuantizeProgress&)> progress;  // optional
  /// Polled between chunks of rows (optional); true stops the work with tern::Error, and
  /// the partial output file is removed. The CLI sets it from SIGINT/SIGTERM/SIGHUP.
  std::function<bool()> cancelled;
};

struct QuantizeReport {
  size_t in_bytes = 0;                                  // tensor data read
  size_t out_bytes = 0;                                 // tensor data written
  int64_t n_values = 0;                                 // values in all tensors
  std::vector<std::pair<TensorType, int>> type_counts;  // output tensors per type
};

/// Writes `out_path` from `in_path` with `mix`, atomically (tern::AtomicFile: an existing
/// target must be a regular file or a link to one; its permissions are kept). Throws
/// tern::Error (leaving out_path untouched) for unreadable input, an already-quantized
/// tensor without allow_requantize, a target that is not a regular file, cancellation or
/// write failures.
QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              const QuantMix& mix, const QuantizeOptions& options);

}  // namespace tern::quant
