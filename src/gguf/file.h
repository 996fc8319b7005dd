// gguf::File: a validated, read-only view of a GGUF file (v2/v3) over mmap.
// Knows the format only, nothing about models. Tensor data are views, never copies.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/mapped_file.h"
#include "gguf/value.h"
#include "types/type_table.h"

namespace tern::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;
// Sane limits shared by the reader and the writer: far above any real model.
inline constexpr uint64_t kMaxKeyLength = 1 << 16;  // keys and tensor names, bytes
inline constexpr uint32_t kMaxAlignment = 1 << 24;

struct KeyValue {
  std::string_view key;
  Value value;
};

struct TensorInfo {
  std::string_view name;
  TensorType type;
  int n_dims = 0;
  int64_t ne[kMaxDims] = {1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension
  uint64_t offset = 0;                   // relative to the start of the data section
  size_t n_bytes = 0;
  const uint8_t* data = nullptr;         // view into the file

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
};

class File {
 public:
  /// Maps and validates `path`. Throws tern::Error naming the file and the problem.
  static File open(const std::string& path);
  /// Validates bytes the caller keeps alive (fuzzing, tests). `name` is used in errors.
  static File parse(std::span<const uint8_t> bytes, std::string name);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  /// Offset of the tensor data section from the start of the file.
  size_t data_offset() const { return data_offset_; }
  std::span<const uint8_t> bytes() const { return bytes_; }

  /// Metadata in file order.
  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;

  // Typed getters: throw tern::Error naming the key when it is missing or mistyped.
  // Integer getters accept any integer type whose value fits.
  int64_t get_int(std::string_view key) const;
  uint32_t get_u32(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::string_view get_string(std::string_view key) const;
  const Array& get_array(std::string_view key) const;
  /// Array whose elements are all `element_type`.
  const Array& get_array(std::string_view key, ValueType element_type) const;

  /// Tensors in file order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  File() = default;
  const Value& require(std::string_view key) const;
  [[noreturn]] void fail_key(std::string_view key, std::string_view what) const;

  std::unique_ptr<MappedFile> mapping_;  // null when parsing caller-owned bytes
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  size_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::unordered_map<std::string_view, size_t> key_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;

  friend class Parser;
};

}  // namespace tern::gguf
