#include "scheduler/placement.h"

#include <fmt/format.h>

#include <algorithm>

#include "tern/error.h"

namespace tern {

namespace {

double gib(size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

}  // namespace

Placement::Placement(int64_t n_layer, int64_t n_gpu_layers, bool has_gpu)
    : n_layer_(n_layer),
      n_gpu_(!has_gpu ? 0 : n_gpu_layers < 0 ? n_layer : std::min(n_gpu_layers, n_layer)) {}

bool Placement::on_gpu(int layer) const {
  if (layer < 0) return false;  // embedding: a lookup in the mmap
  if (layer >= n_layer_) return head_on_gpu();
  return layer >= first_gpu_layer();
}

GpuMemoryNeed gpu_memory_need(const Placement& placement, const std::vector<size_t>& layer_bytes,
                              size_t head_bytes, size_t kv_bytes_per_layer, size_t scratch) {
  GpuMemoryNeed need;
  for (int64_t il = placement.first_gpu_layer(); il < placement.n_layer(); ++il) {
    if (static_cast<size_t>(il) < layer_bytes.size()) need.weights += layer_bytes[il];
    need.kv_cache += kv_bytes_per_layer;
  }
  if (placement.head_on_gpu()) need.weights += head_bytes;
  if (placement.n_gpu_layers() > 0) need.scratch = scratch;
  return need;
}

void check_fits(const std::string& device, size_t device_bytes, const Placement& placement,
                const GpuMemoryNeed& need) {
  if (device_bytes == 0 || need.total() <= device_bytes) return;
  throw Error(fmt::format(
      "{}: {} GPU layers{} need {:.2f} GiB (weights {:.2f} GiB, KV cache {:.2f} GiB, scratch "
      "{:.2f} GiB) but the device has {:.2f} GiB; put fewer layers on the GPU or lower the context "
      "size",
      device, placement.n_gpu_layers(), placement.head_on_gpu() ? " and the output head" : "",
      gib(need.total()), gib(need.weights), gib(need.kv_cache), gib(need.scratch),
      gib(device_bytes)));
}

}  // namespace tern
