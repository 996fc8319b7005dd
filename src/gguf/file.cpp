#include "gguf/file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "tern/error.h"

namespace tern::gguf {

namespace {

// Sane limits: far above any real model, far below what would exhaust the stack or memory.
constexpr int kMaxArrayDepth = 8;
// Array items in all metadata together. Each costs a ~40-byte Value however few bytes it
// takes in the file; real vocabularies need about 10^6 (tokens, scores, types, merges).
constexpr uint64_t kMaxArrayItems = uint64_t{1} << 24;

// Smallest encoded size of one element of each value type; bounds array counts by the
// bytes left before anything is allocated.
uint64_t min_encoded_size(ValueType type) {
  switch (type) {
    case ValueType::U8: case ValueType::I8: case ValueType::Bool: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    case ValueType::String: return 8;  // length prefix
    case ValueType::Array: return 12;  // element type + count
  }
  return 1;
}

}  // namespace

// Bounds-checked little-endian reader over the file; every failure names the offset.
class Parser {
 public:
  Parser(File& file) : file_(file), bytes_(file.bytes_) {}

  void run() {
    read_header();
    for (uint64_t i = 0; i < n_kv_; ++i) read_key_value();
    read_alignment();
    for (uint64_t i = 0; i < n_tensors_; ++i) read_tensor_info();
    place_tensor_data();
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("{}: invalid GGUF at byte {}: {}", file_.name_, pos_, what));
  }

  size_t remaining() const { return bytes_.size() - pos_; }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      fail(fmt::format("truncated: {} needs {} bytes, {} left", what, n, remaining()));
    }
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string_view read_string(std::string_view what, uint64_t max_length) {
    auto length = read<uint64_t>(what);
    if (length > max_length) fail(fmt::format("{} length {} exceeds {}", what, length, max_length));
    need(length, what);
    std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return s;
  }

  void read_header() {
    auto magic = read<uint32_t>("magic");
    if (magic != kMagic) fail("not a GGUF file (bad magic)");
    file_.version_ = read<uint32_t>("version");
    if (file_.version_ == 0x02000000 || file_.version_ == 0x03000000) {
      fail("big-endian GGUF files are not supported");
    }
    if (file_.version_ == 1) fail("GGUF version 1 is not supported (convert to v3)");
    if (file_.version_ != 2 && file_.version_ != 3) {
      fail(fmt::format("unsupported GGUF version {}", file_.version_));
    }
    n_tensors_ = read<uint64_t>("tensor count");
    n_kv_ = read<uint64_t>("metadata count");
    // Each key-value needs at least 12 bytes and each tensor info at least 28.
    if (n_kv_ > remaining() / 12) fail(fmt::format("metadata count {} exceeds file size", n_kv_));
    if (n_tensors_ > remaining() / 28) {
      fail(fmt::format("tensor count {} exceeds file size", n_tensors_));
    }
  }

  ValueType read_value_type(std::string_view what) {
    auto id = read<uint32_t>(what);
    if (id >= kValueTypeCount) fail(fmt::format("{}: unknown value type {}", what, id));
    return static_cast<ValueType>(id);
  }

  Value read_value(ValueType type, int depth) {
    switch (type) {
      case ValueType::U8: return {read<uint8_t>("u8 value")};
      case ValueType::I8: return {read<int8_t>("i8 value")};
      case ValueType::U16: return {read<uint16_t>("u16 value")};
      case ValueType::I16: return {read<int16_t>("i16 value")};
      case ValueType::U32: return {read<uint32_t>("u32 value")};
      case ValueType::I32: return {read<int32_t>("i32 value")};
      case ValueType::F32: return {read<float>("f32 value")};
      case ValueType::U64: return {read<uint64_t>("u64 value")};
      case ValueType::I64: return {read<int64_t>("i64 value")};
      case ValueType::F64: return {read<double>("f64 value")};
      case ValueType::Bool: {
        auto b = read<uint8_t>("bool value");
        if (b > 1) fail(fmt::format("bool value {} is neither 0 nor 1", b));
        return {b == 1};
      }
      case ValueType::String:
        return {read_string("string value", std::numeric_limits<uint64_t>::max())};
      case ValueType::Array: return {read_array(depth)};
    }
    fail("unreachable value type");
  }

  Array read_array(int depth) {
    if (depth >= kMaxArrayDepth) fail(fmt::format("arrays nested deeper than {}", kMaxArrayDepth));
    Array array;
    array.element_type = read_value_type("array element type");
    auto count = read<uint64_t>("array count");
    if (count > remaining() / min_encoded_size(array.element_type)) {
      fail(fmt::format("array count {} exceeds file size", count));
    }
    if (count > kMaxArrayItems - n_array_items_) {
      fail(fmt::format("array count {} takes the metadata past {} array items", count,
                       kMaxArrayItems));
    }
    n_array_items_ += count;
    array.items.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      array.items.push_back(read_value(array.element_type, depth + 1));
    }
    return array;
  }

  void read_key_value() {
    std::string_view key = read_string("key", kMaxKeyLength);
    if (key.empty()) fail("empty metadata key");
    ValueType type = read_value_type(fmt::format("type of key '{}'", key));
    Value value = read_value(type, 0);
    if (!file_.key_index_.emplace(key, file_.metadata_.size()).second) {
      fail(fmt::format("duplicate metadata key '{}'", key));
    }
    file_.metadata_.push_back({key, std::move(value)});
  }

  void read_alignment() {
    const Value* v = file_.find("general.alignment");
    if (v == nullptr) return;
    if (v->type() != ValueType::U32) fail("general.alignment must be a u32");
    uint32_t a = std::get<uint32_t>(v->storage);
    if (a == 0 || (a & (a - 1)) != 0 || a > kMaxAlignment) {
      fail(fmt::format("general.alignment {} is not a power of two up to {}", a, kMaxAlignment));
    }
    file_.alignment_ = a;
  }

  void read_tensor_info() {
    TensorInfo t;
    t.name = read_string("tensor name", kMaxKeyLength);
    if (t.name.empty()) fail("empty tensor name");
    auto n_dims = read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      fail(fmt::format("tensor '{}' has {} dimensions (1 to {} allowed)", t.name, n_dims, kMaxDims));
    }
    t.n_dims = static_cast<int>(n_dims);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      auto ne = read<uint64_t>("tensor dimension");
      // Each dimension and the product stay below 2^62 so no later int64 math overflows.
      if (ne == 0 || ne > (uint64_t{1} << 62) / n_elements) {
        fail(fmt::format("tensor '{}' has an invalid shape (dimension {} is {})", t.name, d, ne));
      }
      n_elements *= ne;
      t.ne[d] = static_cast<int64_t>(ne);
    }
    auto type_id = read<uint32_t>("tensor type");
    const TypeTraits* traits = find_type(type_id);
    if (traits == nullptr) fail(fmt::format("tensor '{}' has unknown type id {}", t.name, type_id));
    t.type = traits->type;
    if (t.ne[0] % traits->block_size != 0) {
      fail(fmt::format("tensor '{}': row length {} is not a multiple of the {} block size {}",
                       t.name, t.ne[0], traits->name, traits->block_size));
    }
    uint64_t n_blocks = n_elements / static_cast<uint64_t>(traits->block_size);
    if (__builtin_mul_overflow(n_blocks, traits->block_bytes, &t.n_bytes)) {
      fail(fmt::format("tensor '{}' is too large", t.name));
    }
    t.offset = read<uint64_t>("tensor offset");
    if (t.offset % file_.alignment_ != 0) {
      fail(fmt::format("tensor '{}' offset {} is not a multiple of the alignment {}", t.name,
                       t.offset, file_.alignment_));
    }
    if (!file_.tensor_index_.emplace(t.name, file_.tensors_.size()).second) {
      fail(fmt::format("duplicate tensor '{}'", t.name));
    }
    file_.tensors_.push_back(t);
  }

  void place_tensor_data() {
    uint64_t a = file_.alignment_;
    uint64_t start = (pos_ + a - 1) / a * a;
    if (start > bytes_.size()) {
      if (n_tensors_ > 0) fail("truncated before the tensor data section");
      start = bytes_.size();  // vocab-only files may end right after the metadata
    }
    file_.data_offset_ = static_cast<size_t>(start);
    uint64_t data_size = bytes_.size() - start;
    std::vector<const TensorInfo*> by_offset;
    for (auto& t : file_.tensors_) {
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        fail(fmt::format("tensor '{}' data [{}, +{}) lies outside the file's {} data bytes",
                         t.name, t.offset, t.n_bytes, data_size));
      }
      t.data = bytes_.data() + start + t.offset;
      by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](auto* x, auto* y) { return x->offset < y->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const TensorInfo* prev = by_offset[i - 1];
      if (prev->offset + prev->n_bytes > by_offset[i]->offset) {
        fail(fmt::format("tensors '{}' and '{}' overlap", prev->name, by_offset[i]->name));
      }
    }
  }

  File& file_;
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t n_array_items_ = 0;  // bounded by kMaxArrayItems
};

File File::open(const std::string& path) {
  auto mapping = std::make_unique<MappedFile>(MappedFile::open(path));
  if (mapping->bytes().empty()) throw Error(path + ": empty file, not a GGUF file");
  File file = parse(mapping->bytes(), path);
  file.mapping_ = std::move(mapping);
  return file;
}

File File::parse(std::span<const uint8_t> bytes, std::string name) {
  File file;
  file.bytes_ = bytes;
  file.name_ = std::move(name);
  Parser(file).run();
  return file;
}

const Value* File::find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void File::fail_key(std::string_view key, std::string_view what) const {
  throw Error(fmt::format("{}: metadata key '{}' {}", name_, key, what));
}

const Value& File::require(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) fail_key(key, "is missing");
  return *v;
}

int64_t File::get_int(std::string_view key) const {
  const Value& v = require(key);
  if (!v.is_integer()) fail_key(key, fmt::format("is {}, expected an integer", value_type_name(v.type())));
  if (v.type() == ValueType::U64 && std::get<uint64_t>(v.storage) > INT64_MAX) {
    fail_key(key, "is out of range");
  }
  return v.as_int();
}

uint32_t File::get_u32(std::string_view key) const {
  int64_t v = get_int(key);
  if (v < 0 || v > UINT32_MAX) fail_key(key, fmt::format("value {} is out of range", v));
  return static_cast<uint32_t>(v);
}

double File::get_float(std::string_view key) const {
  const Value& v = require(key);
  if (!v.is_float() && !v.is_integer()) {
    fail_key(key, fmt::format("is {}, expected a number", value_type_name(v.type())));
  }
  return v.as_float();
}

bool File::get_bool(std::string_view key) const {
  const Value& v = require(key);
  if (v.type() != ValueType::Bool) {
    fail_key(key, fmt::format("is {}, expected bool", value_type_name(v.type())));
  }
  return v.as_bool();
}

std::string_view File::get_string(std::string_view key) const {
  const Value& v = require(key);
  if (v.type() != ValueType::String) {
    fail_key(key, fmt::format("is {}, expected string", value_type_name(v.type())));
  }
  return v.as_string();
}

const Array& File::get_array(std::string_view key) const {
  const Value& v = require(key);
  if (v.type() != ValueType::Array) {
    fail_key(key, fmt::format("is {}, expected array", value_type_name(v.type())));
  }
  return v.as_array();
}

const Array& File::get_array(std::string_view key, ValueType element_type) const {
  const Array& a = get_array(key);
  if (a.element_type != element_type) {
    fail_key(key, fmt::format("is an array of {}, expected an array of {}",
                              value_type_name(a.element_type), value_type_name(element_type)));
  }
  return a;
}

}  // namespace tern::gguf
