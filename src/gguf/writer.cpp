#include "gguf/writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "tern/atomic_file.h"
#include "tern/error.h"

namespace tern::gguf {

namespace {

constexpr uint32_t kVersion = 3;

uint64_t align_up(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

// Buffers the many small header fields into few sink calls; passes big spans straight on.
// Counts every byte so padding can be computed from the file position.
class Emitter {
 public:
  explicit Emitter(const ByteSink& sink) : sink_(sink) { buffer_.reserve(kBufferSize); }

  uint64_t position() const { return position_; }

  template <typename T>
  void scalar(T v) {
    uint8_t raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));  // GGUF is little-endian, like every host tern targets
    bytes({raw, sizeof(T)});
  }

  void string(std::string_view s) {
    scalar<uint64_t>(s.size());
    bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }

  void value(const Value& v) {
    std::visit([this](const auto& x) { alternative(x); }, v.storage);
  }

  void bytes(std::span<const uint8_t> data) {
    position_ += data.size();
    if (data.size() >= kBufferSize) {
      flush();
      sink_(data);
      return;
    }
    if (buffer_.size() + data.size() > kBufferSize) flush();
    buffer_.insert(buffer_.end(), data.begin(), data.end());
  }

  void pad_to(uint64_t alignment) {
    static constexpr uint8_t kZeros[64] = {};
    uint64_t n = align_up(position_, alignment) - position_;
    for (; n > 0; n -= std::min<uint64_t>(n, sizeof(kZeros))) {
      bytes({kZeros, std::min<uint64_t>(n, sizeof(kZeros))});
    }
  }

  void flush() {
    if (buffer_.empty()) return;
    sink_(buffer_);
    buffer_.clear();
  }

 private:
  static constexpr size_t kBufferSize = 1 << 16;

  void alternative(std::string_view s) { string(s); }
  void alternative(bool b) { scalar<uint8_t>(b ? 1 : 0); }
  void alternative(const Array& a) {
    scalar(static_cast<uint32_t>(a.element_type));
    scalar<uint64_t>(a.items.size());
    for (const Value& item : a.items) value(item);
  }
  template <typename T>
  void alternative(T v) {
    scalar(v);
  }

  const ByteSink& sink_;
  std::vector<uint8_t> buffer_;
  uint64_t position_ = 0;
};

// Every item of `array` (recursively) has the array's element type.
bool is_homogeneous(const Array& array) {
  for (const Value& item : array.items) {
    if (item.type() != array.element_type) return false;
    if (item.type() == ValueType::Array && !is_homogeneous(item.as_array())) return false;
  }
  return true;
}

}  // namespace

Writer Writer::copy_of(const File& file) {
  Writer writer;
  for (const KeyValue& kv : file.metadata()) writer.add(kv.key, kv.value);
  for (const TensorInfo& t : file.tensors()) {
    writer.add_tensor(t.name, t.type, std::span<const int64_t>(t.ne, t.n_dims),
                      {t.data, t.n_bytes});
  }
  return writer;
}

std::string_view Writer::own(std::string_view s) { return strings_.emplace_back(s); }

Value Writer::own(const Value& value) {
  if (value.type() == ValueType::String) return {own(value.as_string())};
  if (value.type() != ValueType::Array) return value;
  Array copy;
  copy.element_type = value.as_array().element_type;
  copy.items.reserve(value.as_array().items.size());
  for (const Value& item : value.as_array().items) copy.items.push_back(own(item));
  return {std::move(copy)};
}

void Writer::check_alignment(const Value& value) const {
  uint32_t a = value.type() == ValueType::U32 ? std::get<uint32_t>(value.storage) : 0;
  if (a == 0 || (a & (a - 1)) != 0 || a > kMaxAlignment) {
    throw Error(
        fmt::format("GGUF writer: general.alignment must be a u32 power of two up to {}, "
                    "got {} {}",
                    kMaxAlignment, value_type_name(value.type()), format_value(value)));
  }
}

void Writer::add(std::string_view key, const Value& value) {
  if (key.empty() || key.size() > kMaxKeyLength) {
    throw Error(fmt::format("GGUF writer: metadata key length {} is not 1 to {}", key.size(),
                            kMaxKeyLength));
  }
  if (keys_.contains(key))
    throw Error(fmt::format("GGUF writer: duplicate metadata key '{}'", key));
  if (value.type() == ValueType::Array && !is_homogeneous(value.as_array())) {
    throw Error(fmt::format("GGUF writer: key '{}' holds an array with items of mixed types", key));
  }
  if (key == "general.alignment") {
    check_alignment(value);
    alignment_ = std::get<uint32_t>(value.storage);
  }
  std::string_view owned_key = own(key);
  keys_.insert(owned_key);
  metadata_.push_back({owned_key, own(value)});
}

void Writer::add_tensor(std::string_view name, TensorType type, std::span<const int64_t> shape,
                        std::span<const uint8_t> data) {
  Tensor t = describe(name, type, shape);
  if (t.n_bytes != data.size()) {
    throw Error(
        fmt::format("GGUF writer: tensor '{}' has {} data bytes, its shape and type need {}", name,
                    data.size(), t.n_bytes));
  }
  t.source = [data](const ByteSink& sink) { sink(data); };
  push(std::move(t));
}

void Writer::add_tensor(std::string_view name, TensorType type, std::span<const int64_t> shape,
                        TensorSource source) {
  Tensor t = describe(name, type, shape);
  t.source = std::move(source);
  push(std::move(t));
}

Writer::Tensor Writer::describe(std::string_view name, TensorType type,
                                std::span<const int64_t> shape) const {
  auto fail = [&](const std::string& what) {
    throw Error(fmt::format("GGUF writer: tensor '{}' {}", name, what));
  };
  if (name.empty() || name.size() > kMaxKeyLength) fail("name length is out of range");
  if (tensor_names_.contains(name)) fail("is a duplicate");
  if (shape.empty() || shape.size() > static_cast<size_t>(kMaxDims)) {
    fail(fmt::format("has {} dimensions (1 to {} allowed)", shape.size(), kMaxDims));
  }
  const TypeTraits& traits = type_traits(type);
  // The same bound as the reader: elements below 2^62, so int64 math on them never overflows.
  uint64_t n_elements = 1;
  for (int64_t ne : shape) {
    if (ne <= 0 || static_cast<uint64_t>(ne) > (uint64_t{1} << 62) / n_elements) {
      fail(fmt::format("has an invalid dimension {}", ne));
    }
    n_elements *= static_cast<uint64_t>(ne);
  }
  if (shape[0] % traits.block_size != 0) {
    fail(fmt::format("row length {} is not a multiple of the {} block size {}", shape[0],
                     traits.name, traits.block_size));
  }
  Tensor t{name, type, std::vector<uint64_t>(shape.begin(), shape.end()), 0, {}};
  if (__builtin_mul_overflow(n_elements / traits.block_size, traits.block_bytes, &t.n_bytes)) {
    fail("is too large");
  }
  return t;
}

void Writer::push(Tensor t) {
  t.name = own(t.name);
  tensor_names_.insert(t.name);
  tensors_.push_back(std::move(t));
}

void Writer::write(const ByteSink& sink) const {
  Emitter out(sink);
  out.scalar(kMagic);
  out.scalar(kVersion);
  out.scalar<uint64_t>(tensors_.size());
  out.scalar<uint64_t>(metadata_.size());
  for (const KeyValue& kv : metadata_) {
    out.string(kv.key);
    out.scalar(static_cast<uint32_t>(kv.value.type()));
    out.value(kv.value);
  }
  // Tensors are packed in order, each starting at a multiple of the alignment.
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    out.string(t.name);
    out.scalar(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t ne : t.ne) out.scalar(ne);
    out.scalar(static_cast<uint32_t>(t.type));
    out.scalar(offset);
    if (__builtin_add_overflow(offset, align_up(t.n_bytes, alignment_), &offset)) {
      throw Error(fmt::format("GGUF writer: tensor data exceed 2^64 bytes at '{}'", t.name));
    }
  }
  // A file without tensors ends right after its metadata, as llama.cpp's vocab files do.
  if (!tensors_.empty()) out.pad_to(alignment_);
  for (const Tensor& t : tensors_) {
    uint64_t start = out.position();
    t.source([&out](std::span<const uint8_t> chunk) { out.bytes(chunk); });
    if (out.position() - start != t.n_bytes) {
      throw Error(fmt::format("GGUF writer: tensor '{}' source gave {} bytes, expected {}", t.name,
                              out.position() - start, t.n_bytes));
    }
    out.pad_to(alignment_);
  }
  out.flush();
}

void Writer::write_file(const std::string& path) const {
  AtomicFile file(path);
  write([&file](std::span<const uint8_t> chunk) { file.write(chunk); });
  file.commit();
}

std::vector<uint8_t> Writer::to_bytes() const {
  std::vector<uint8_t> out;
  write([&out](std::span<const uint8_t> chunk) {
    out.insert(out.end(), chunk.begin(), chunk.end());
  });
  return out;
}

}  // namespace tern::gguf
