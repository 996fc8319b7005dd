// Placement: which backend runs each layer for -ngl, and whether that fits the device.
// The last n_gpu_layers layers go to the GPU backend, the output head too once every
// layer does; the embedding (a row lookup in the mmap) stays on the CPU. Each layer's KV
// cache lives with its layer. Shared by every GPU backend (Vulkan, CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tern {

class Placement {
 public:
  /// `n_gpu_layers` < 0 or >= n_layer: every layer and the output head on the GPU.
  /// `has_gpu` false: everything on the CPU.
  Placement(int64_t n_layer, int64_t n_gpu_layers, bool has_gpu);

  /// Whether graph layer `layer` (-1 embedding, 0..n_layer-1, n_layer output head) runs
  /// on the GPU backend.
  bool on_gpu(int layer) const;
  int64_t n_layer() const { return n_layer_; }
  int64_t n_gpu_layers() const { return n_gpu_; }
  bool head_on_gpu() const { return n_gpu_ == n_layer_ && n_gpu_ > 0; }
  /// The first layer on the GPU (n_layer when none).
  int64_t first_gpu_layer() const { return n_layer_ - n_gpu_; }

 private:
  int64_t n_layer_;
  int64_t n_gpu_;
};

/// What the GPU share of a model needs, in bytes.
struct GpuMemoryNeed {
  size_t weights = 0;   // weights of the GPU layers (and the head when it is there)
  size_t kv_cache = 0;  // K and V of the GPU layers
  size_t scratch = 0;   // activations (estimate)
  size_t total() const { return weights + kv_cache + scratch; }
};

/// The need of `placement` given per-layer weight bytes, the output head's bytes and one
/// layer's K+V bytes.
GpuMemoryNeed gpu_memory_need(const Placement& placement, const std::vector<size_t>& layer_bytes,
                              size_t head_bytes, size_t kv_bytes_per_layer, size_t scratch);

/// Throws tern::Error, with the numbers, when `need` exceeds `device_bytes` (0: unknown,
/// never refuses). Called before anything is allocated.
void check_fits(const std::string& device, size_t device_bytes, const Placement& placement,
                const GpuMemoryNeed& need);

}  // namespace tern
