// WeightStore: device copies of the model's weights, uploaded on first use and kept for
// the backend's lifetime (keyed by the weight's address in the mmap). Matmul and
// get_rows read weights in their own type where a kernel exists (F32, F16, Q4_0, Q8_0,
// Q4_K, Q5_K, Q6_K) and as F16 otherwise (dequantized once at upload, through the type
// table); norms, biases and rope factors are read as F32. Weights must not change or
// move while the backend lives (the model outlives its sessions and their backends).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <tuple>
#include <utility>

#include "graph/graph.h"
#include "memory.h"
#include "types/type_table.h"

namespace tern::vulkan {

enum class WeightUse { Kernel, F32 };

struct ResidentWeight {
  DeviceBuffer* buffer = nullptr;
  TensorType type = TensorType::F32;  // the type on the device
  size_t row_bytes = 0;
};

class WeightStore {
 public:
  explicit WeightStore(Memory& memory) : memory_(memory) {}

  /// The device type of a weight of `type` read for `use`, or nullopt when the table
  /// cannot convert it.
  static std::optional<TensorType> device_type(TensorType type, WeightUse use);
  /// Bytes on the device of `t` read for `use` (0 when unsupported).
  static size_t device_bytes(const graph::Tensor& t, WeightUse use);
  /// Shader name suffix of a kernel type: "q4_k".
  static std::string kernel_suffix(TensorType type);

  /// The device copy of weight `t` for `use`, uploading (and converting) it first.
  const ResidentWeight& get(const graph::Tensor& t, WeightUse use);
  size_t resident_bytes() const { return resident_bytes_; }

 private:
  Memory& memory_;
  // (address, source type, device type, cols, rows) -> device copy
  using Key = std::tuple<const void*, TensorType, TensorType, int64_t, int64_t>;
  std::map<Key, std::pair<std::unique_ptr<DeviceBuffer>, ResidentWeight>> weights_;
  size_t resident_bytes_ = 0;
};

}  // namespace tern::vulkan
