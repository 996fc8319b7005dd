// Backend registry: which backends this program offers, and making them. The CPU backend is
// part of libtern; each GPU backend is a library of its own (tern::vulkan, tern::cuda) that
// registers itself here when a program links it, so a program that links only tern::tern
// pulls in no GPU runtime. `Auto` prefers a real GPU (discrete, integrated or virtual),
// CUDA before Vulkan; a CPU-emulated Vulkan device such as Mesa's lavapipe is never better
// than the CPU backend, so it is only used when asked for explicitly.
#pragma once

#include <memory>
#include <string_view>

#include "backends/backend.h"
#include "tern/model.h"

namespace tern {

std::string_view backend_kind_name(BackendKind kind);

/// What the CUDA backend's sources register as in this build: Cuda, or Hip when they were
/// built for AMD GPUs (-DTERN_HIP=ON, which defines TERN_HIP for what links tern::hip).
#ifdef TERN_HIP
inline constexpr BackendKind kCudaSourcesKind = BackendKind::Hip;
#else
inline constexpr BackendKind kCudaSourcesKind = BackendKind::Cuda;
#endif

/// What a GPU backend library gives the registry.
struct GpuBackendEntry {
  size_t (*device_count)() = nullptr;
  /// Whether `Auto` should take this backend for these options (a real device is there).
  bool (*auto_usable)(const BackendOptions& options) = nullptr;
  std::unique_ptr<Backend> (*make)(const BackendOptions& options) = nullptr;
};

/// Called by a GPU backend library's static registrar (kind: Vulkan or Cuda), before main.
void register_gpu_backend(BackendKind kind, const GpuBackendEntry& entry);

/// Whether this program has `kind` and the machine has a device for it (Cpu: always).
bool backend_available(BackendKind kind);

/// The GPU backend `kind` asks for: Auto resolves to the best GPU available or null (CPU
/// only); Cpu gives null; Vulkan/Cuda throw tern::Error when the program or the machine
/// lacks them.
std::unique_ptr<Backend> make_gpu_backend(BackendKind kind, const BackendOptions& options);

}  // namespace tern
