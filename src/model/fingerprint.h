// A model's identity for files that hold state computed by it (a session's saved KV cache):
// a 64-bit FNV-1a hash over what decides the cache's contents, cheap enough to take on
// every save and load.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "gguf/file.h"
#include "model/model_spec.h"

namespace tern {

/// 64-bit FNV-1a, fed piece by piece.
class Fnv1a {
 public:
  void add(std::span<const uint8_t> bytes) {
    for (uint8_t b : bytes) hash_ = (hash_ ^ b) * 0x100000001b3ull;
  }
  void add(std::string_view text) {
    add(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  /// A value's bytes as the host holds them (little-endian).
  template <typename T>
  void add_value(const T& value) {
    add(std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ull;
};

/// The hash of `spec` (architecture and every hyperparameter), of each tensor's name, type
/// and shape, and of the first kSampledBytes of each tensor's data: two files that differ
/// in architecture, shape, quantization or weights (a fine-tune of the same shape) differ
/// here, while the hash reads about a page per tensor, not the weights.
uint64_t model_fingerprint(const gguf::File& file, const ModelSpec& spec);

inline constexpr size_t kSampledBytes = 256;

}  // namespace tern
