// WeightStore: device copies of the model's weights, uploaded on first use and kept for
// the backend's lifetime (keyed by the weight's address in the mmap, its type and shape).
// Matrices (matmul, get_rows) are kept in their file type where the kernels read it
// (has_native_kernel in matmul.h) and as F16 otherwise (dequantized once on the host,
// through the type table); norms, biases and rope factors are kept as F32. Weights must
// not change or move while the backend lives (the model outlives its sessions).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

#include "gpu_runtime.h"
#include "graph/graph.h"
#include "matmul.h"
#include "memory.h"
#include "types/type_table.h"

namespace tern::cuda {

enum class WeightUse { Matrix, F32 };

class WeightStore {
 public:
  explicit WeightStore(cudaStream_t stream) : stream_(stream) {}

  /// The device type of a weight of `type` read for `use`, or nullopt when the table
  /// cannot convert it.
  static std::optional<TensorType> device_type(TensorType type, WeightUse use);
  /// Bytes on the device of `t` read for `use` (0 when unsupported).
  static size_t device_bytes(const graph::Tensor& t, WeightUse use);

  /// The device copy of weight `t` for `use`, uploading (and converting) it first.
  const DeviceMatrix& get(const graph::Tensor& t, WeightUse use);
  size_t resident_bytes() const { return resident_bytes_; }

 private:
  cudaStream_t stream_;
  // (address, source type, device type, cols, rows) -> device copy
  using Key = std::tuple<const void*, TensorType, TensorType, int64_t, int64_t>;
  struct Resident {
    std::unique_ptr<DeviceBuffer> buffer;
    DeviceMatrix matrix;
  };
  std::map<Key, Resident> weights_;
  size_t resident_bytes_ = 0;
};

}  // namespace tern::cuda
