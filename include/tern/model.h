// tern::Model: a GGUF model loaded for inference. Weights stay in the file's memory
// mapping; the model is immutable after loading and may be shared by sessions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tern/tokenizer.h"

namespace tern {

/// Options for Model::load; the defaults suit normal use.
struct ModelOptions {
  /// Refuse files holding tensors the architecture does not use (default: ignore them).
  bool strict = false;
};

class Model {
 public:
  /// Maps `path`, reads its architecture and hyperparameters and validates every tensor
  /// the architecture needs (presence, shape, convertible type). Throws tern::Error naming
  /// the file and the key or tensor at fault.
  static Model load(const std::string& path, const ModelOptions& options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  /// general.architecture ("llama", "qwen2", "qwen3", "gemma3").
  std::string_view architecture() const;
  int64_t n_vocab() const;
  /// Context length the model was trained with ({arch}.context_length).
  int64_t n_ctx_train() const;
  int64_t n_embd() const;
  int64_t n_layer() const;
  /// Bytes of the weights the architecture uses (all in the mapping).
  size_t weight_bytes() const;
  /// Bytes of the whole file.
  size_t file_bytes() const;

  /// A string/integer metadata value, or nullopt when the key is absent or of another type.
  std::optional<std::string> meta_string(std::string_view key) const;
  std::optional<int64_t> meta_int(std::string_view key) const;

  /// The tokenizer the file's `tokenizer.ggml.*` keys describe, built on the first call
  /// (safe from several threads at once). Throws tern::Error naming the key at fault; a
  /// later call tries again. The reference lives as long as the model (or the one it is
  /// moved into).
  const Tokenizer& tokenizer() const;

 private:
  struct Impl;
  friend struct ModelInternals;  // the library's own access (src/model/model_internals.h)
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern
