#include "backends/registry.h"

#include <fmt/format.h>

#include <array>

#include "tern/error.h"

namespace tern {

namespace {

constexpr size_t kKinds = 5;  // BackendKind's values

// Filled by the GPU libraries' registrars during static initialization, read-only after.
std::array<GpuBackendEntry, kKinds>& gpu_entries() {
  static std::array<GpuBackendEntry, kKinds> entries;
  return entries;
}

const GpuBackendEntry* entry_of(BackendKind kind) {
  const GpuBackendEntry& e = gpu_entries()[static_cast<size_t>(kind)];
  return e.make != nullptr ? &e : nullptr;
}

}  // namespace

std::string_view backend_kind_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::Auto: return "auto";
    case BackendKind::Cpu: return "cpu";
    case BackendKind::Vulkan: return "vulkan";
    case BackendKind::Cuda: return "cuda";
    case BackendKind::Hip:
      return "hip";
  }
  return "?";
}

void register_gpu_backend(BackendKind kind, const GpuBackendEntry& entry) {
  gpu_entries()[static_cast<size_t>(kind)] = entry;
}

bool backend_available(BackendKind kind) {
  if (kind == BackendKind::Auto || kind == BackendKind::Cpu) return true;
  const GpuBackendEntry* e = entry_of(kind);
  return e != nullptr && e->device_count() > 0;
}

std::unique_ptr<Backend> make_gpu_backend(BackendKind kind, const BackendOptions& options) {
  if (kind == BackendKind::Cpu) return nullptr;
  if (kind == BackendKind::Auto) {
    // CUDA and HIP are faster than Vulkan on their GPUs.
    for (BackendKind gpu : {BackendKind::Cuda, BackendKind::Hip, BackendKind::Vulkan}) {
      const GpuBackendEntry* e = entry_of(gpu);
      if (e != nullptr && e->auto_usable(options)) return e->make(options);
    }
    return nullptr;
  }
  const GpuBackendEntry* e = entry_of(kind);
  if (e == nullptr) {
    const std::string_view name = backend_kind_name(kind);
    const char* flag = kind == BackendKind::Cuda  ? "CUDA"
                       : kind == BackendKind::Hip ? "HIP"
                                                  : "VULKAN";
    throw Error(
        fmt::format("this program has no {0} backend (build with -DTERN_{1}=ON and link tern::{0})",
                    name, flag));
  }
  return e->make(options);
}

}  // namespace tern
