// The Vulkan backend (built with -DTERN_VULKAN=ON): every graph op as GLSL compute
// shaders; see backends/vulkan/README.md for the design.
#pragma once

#include <cstddef>
#include <memory>

#include "backends/backend.h"

namespace tern {

/// Usable Vulkan devices on this machine (0 without a driver).
size_t vulkan_device_count();
/// Whether the device the backend would choose (`device_index`, -1: the best) is a real
/// GPU, not a CPU implementation such as lavapipe (the default backend only prefers real
/// GPUs).
bool vulkan_gpu_available(int device_index);
/// The backend on device options.vulkan_device (-1: the best); throws tern::Error when
/// there is none.
std::unique_ptr<Backend> make_vulkan_backend(const BackendOptions& options);

}  // namespace tern
