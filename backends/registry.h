// Backend registry: which backends this build and machine offer, and making them.
// `Auto` prefers a real GPU (discrete, integrated or virtual); a CPU-emulated Vulkan
// device such as Mesa's lavapipe is never better than the CPU backend, so it is only
// used when asked for explicitly.
#pragma once

#include <memory>
#include <string_view>

#include "backends/backend.h"
#include "tern/model.h"

namespace tern {

std::string_view backend_kind_name(BackendKind kind);

/// Whether this build has `kind` and the machine has a device for it (Cpu: always).
bool backend_available(BackendKind kind);

/// The GPU backend `kind` asks for: Auto resolves to the best GPU available or null (CPU
/// only); Cpu gives null; Vulkan/Cuda throw tern::Error when the build or the machine
/// lacks them.
std::unique_ptr<Backend> make_gpu_backend(BackendKind kind, const BackendOptions& options);

}  // namespace tern
