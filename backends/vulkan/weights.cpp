#include "weights.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "tern/error.h"

namespace tern::vulkan {

namespace {

bool has_kernel(TensorType type) {
  switch (type) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::Q4_0:
    case TensorType::Q8_0:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K: return true;
    default: return false;
  }
}

// The basic shaders read weights as 32-bit words (shaders/bytes.glsl), so a weight's
// buffer holds whole words: 67 rows of 9 Q6_K blocks (126630 bytes) would otherwise leave
// the last block's scale d half outside the binding (read as zero).
size_t whole_words(size_t bytes) { return (bytes + 3) & ~size_t{3}; }

}  // namespace

std::optional<TensorType> WeightStore::device_type(TensorType type, WeightUse use) {
  if (type_traits(type).to_float == nullptr) return std::nullopt;
  if (use == WeightUse::F32) return TensorType::F32;
  return has_kernel(type) ? type : TensorType::F16;
}

size_t WeightStore::device_bytes(const graph::Tensor& t, WeightUse use) {
  auto type = device_type(t.type, use);
  if (!type) return 0;
  auto row = row_bytes(*type, t.cols);
  return row ? whole_words(*row * static_cast<size_t>(t.rows)) : 0;
}

std::string WeightStore::kernel_suffix(TensorType type) {
  std::string name(type_traits(type).name);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

const ResidentWeight& WeightStore::get(const graph::Tensor& t, WeightUse use) {
  if (t.storage != graph::Storage::Weight) throw Error("vulkan: operand is not a weight");
  auto type = device_type(t.type, use);
  if (!type) throw Error(fmt::format("vulkan: no conversion for {}", type_traits(t.type).name));
  Key key{t.data, t.type, *type, t.cols, t.rows};
  auto it = weights_.find(key);
  if (it != weights_.end()) return it->second.second;
  size_t row = *row_bytes(*type, t.cols);
  size_t bytes = row * static_cast<size_t>(t.rows);
  auto buffer = memory_.allocate(whole_words(bytes));
  if (*type == t.type) {
    buffer->upload(t.data, 0, bytes);
  } else {
    std::vector<uint8_t> converted = convert_rows(t.type, t.data, t.rows, t.cols, *type);
    buffer->upload(converted.data(), 0, bytes);
  }
  resident_bytes_ += buffer->size();
  ResidentWeight resident{buffer.get(), *type, row};
  auto& slot = weights_[key];
  slot = {std::move(buffer), resident};
  return slot.second;
}

}  // namespace tern::vulkan
