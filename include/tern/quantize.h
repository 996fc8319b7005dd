// Quantizing a GGUF model into another with one of llama.cpp's mixes ("Q4_K_M", "Q8_0",
// "F16"...): each weight gets the mix's type for its role and layer, the metadata is copied
// (general.file_type updated), and the tensors stream through the reference quantizers on
// several threads into a file that appears whole or not at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern::quant {

struct QuantizeProgress {
  size_t tensor = 0;  // index of the tensor being written
  size_t n_tensors = 0;
  std::string_view name;    // valid during the callback only
  int64_t values_done = 0;  // over the whole model
  int64_t values_total = 0;
};

struct QuantizeOptions {
  int n_threads = 1;
  /// Allow converting tensors that are already quantized (lossy twice over).
  bool allow_requantize = false;
  /// Called between chunks of rows, on the calling thread (optional).
  std::function<void(const QuantizeProgress&)> progress;
  /// Polled between chunks of rows, on the calling thread (optional); true stops the work
  /// with tern::Error, and the partial output file is removed. The CLI sets it from
  /// SIGINT/SIGTERM/SIGHUP.
  std::function<bool()> cancelled;
};

struct QuantizeReport {
  std::string_view mix;  // the mix's name as llama.cpp spells it ("Q4_K_M")
  size_t in_bytes = 0;   // tensor data read
  size_t out_bytes = 0;  // tensor data written
  int64_t n_values = 0;  // values in all tensors
  /// Output tensors per type name ("Q4_K"), in the type table's order.
  std::vector<std::pair<std::string_view, int>> type_counts;
};

/// The mixes' names ("Q4_K_M"...), in the order `tern quantize --help` lists them.
std::vector<std::string_view> mix_names();

/// Writes `out_path` from `in_path` with the mix named `mix` (case-insensitive), atomically:
/// an existing target must be a regular file or a link to one; its permissions are kept.
/// Throws tern::Error (leaving out_path untouched) for an unknown mix (naming the known
/// ones), unreadable input, an already-quantized tensor without allow_requantize, a target
/// that is not a regular file, cancellation or write failures.
QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              std::string_view mix, const QuantizeOptions& options);

}  // namespace tern::quant
