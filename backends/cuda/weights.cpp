#include "weights.h"

#include <fmt/format.h>

#include <cstdint>
#include <vector>

#include "tern/error.h"

namespace tern::cuda {

std::optional<TensorType> WeightStore::device_type(TensorType type, WeightUse use) {
  if (type_traits(type).to_float == nullptr) return std::nullopt;
  if (use == WeightUse::F32) return TensorType::F32;
  return has_native_kernel(type) ? type : TensorType::F16;
}

size_t WeightStore::device_bytes(const graph::Tensor& t, WeightUse use) {
  auto type = device_type(t.type, use);
  if (!type) return 0;
  auto row = row_bytes(*type, t.cols);
  return row ? *row * static_cast<size_t>(t.rows) : 0;
}

const DeviceMatrix& WeightStore::get(const graph::Tensor& t, WeightUse use) {
  if (t.storage != graph::Storage::Weight) throw Error("cuda: operand is not a weight");
  auto type = device_type(t.type, use);
  if (!type) {
    throw Error(fmt::format("cuda: weight type {} has no float conversion", type_traits(t.type).name));
  }
  Key key{t.data, t.type, *type, t.cols, t.rows};
  auto it = weights_.find(key);
  if (it != weights_.end()) return it->second.matrix;
  size_t row = checked_row_bytes(*type, t.cols);
  size_t bytes = row * static_cast<size_t>(t.rows);
  auto buffer = std::make_unique<DeviceBuffer>(bytes, stream_);
  if (*type == t.type) {
    buffer->upload(t.data, 0, bytes);
  } else {
    std::vector<uint8_t> converted = convert_rows(t.type, t.data, t.rows, t.cols, *type);
    buffer->upload(converted.data(), 0, bytes);
  }
  resident_bytes_ += bytes;
  DeviceMatrix matrix{*type, buffer->data(), t.rows, t.cols, row};
  Resident& slot = weights_[key];
  slot = {std::move(buffer), matrix};
  return slot.matrix;
}

}  // namespace tern::cuda
