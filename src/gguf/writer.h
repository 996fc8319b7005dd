// gguf::Writer: builds a GGUF v3 file from metadata and tensors, streaming the tensor data
// so that a model never has to sit in memory whole. Knows the format only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "gguf/file.h"
#include "gguf/value.h"
#include "types/type_table.h"

namespace tern::gguf {

/// Receives consecutive chunks of output bytes.
using ByteSink = std::function<void(std::span<const uint8_t>)>;
/// Produces one tensor's data by calling the sink with consecutive chunks; the chunks
/// must add up to exactly the tensor's size in bytes (checked when writing).
using TensorSource = std::function<void(const ByteSink&)>;

class Writer {
 public:
  Writer() = default;
  Writer(Writer&&) = default;
  Writer& operator=(Writer&&) = default;
  Writer(const Writer&) = delete;  // metadata values point into this writer's own strings
  Writer& operator=(const Writer&) = delete;

  /// A writer holding `file`'s metadata and tensors in file order. Tensor data are views
  /// into `file`, which must outlive the writer.
  static Writer copy_of(const File& file);

  /// Appends a metadata key-value (written in call order). The key and every string in
  /// `value` are copied. Throws tern::Error for a duplicate or empty key, an array whose
  /// items do not all have its element type, or an invalid `general.alignment`.
  void add(std::string_view key, const Value& value);

  /// Appends a tensor of `shape` (ne[0], the contiguous dimension, first; 1 to kMaxDims
  /// dimensions). The data are a view the caller keeps alive until writing is done.
  void add_tensor(std::string_view name, TensorType type, std::span<const int64_t> shape,
                  std::span<const uint8_t> data);
  /// As above, with the data produced at write time by `source` (streaming).
  void add_tensor(std::string_view name, TensorType type, std::span<const int64_t> shape,
                  TensorSource source);

  /// Alignment of the tensor data (from `general.alignment`, else 32).
  uint32_t alignment() const { return alignment_; }

  /// Streams the whole file to `sink`. Throws tern::Error if a tensor source delivers
  /// the wrong number of bytes.
  void write(const ByteSink& sink) const;
  /// Writes to `path` through a temporary file in the same folder, renamed over `path`
  /// only once everything is written; a failure leaves `path` untouched. `path` must be new
  /// or a regular file (or a link to one): the rules of tern::AtomicFile.
  void write_file(const std::string& path) const;
  /// The whole file in memory (tests, small files).
  std::vector<uint8_t> to_bytes() const;

 private:
  struct Tensor {
    std::string_view name;
    TensorType type;
    std::vector<uint64_t> ne;
    size_t n_bytes = 0;
    TensorSource source;
  };

  Tensor describe(std::string_view name, TensorType type, std::span<const int64_t> shape) const;
  void push(Tensor t);
  std::string_view own(std::string_view s);
  Value own(const Value& value);
  void check_alignment(const Value& value) const;

  std::deque<std::string> strings_;  // owned keys, names and string values (stable addresses)
  std::vector<KeyValue> metadata_;
  std::unordered_set<std::string_view> keys_;
  std::vector<Tensor> tensors_;
  std::unordered_set<std::string_view> tensor_names_;
  uint32_t alignment_ = kDefaultAlignment;
};

}  // namespace tern::gguf
