#include "backends/registry.h"

#include "tern/error.h"

#ifdef TERN_VULKAN
#include "backends/vulkan/vulkan_backend.h"
#endif
#ifdef TERN_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace tern {

std::string_view backend_kind_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::Auto: return "auto";
    case BackendKind::Cpu: return "cpu";
    case BackendKind::Vulkan: return "vulkan";
    case BackendKind::Cuda: return "cuda";
  }
  return "?";
}

bool backend_available(BackendKind kind) {
  switch (kind) {
    case BackendKind::Auto:
    case BackendKind::Cpu: return true;
    case BackendKind::Vulkan:
#ifdef TERN_VULKAN
      return vulkan_device_count() > 0;
#else
      return false;
#endif
    case BackendKind::Cuda:
#ifdef TERN_CUDA
      return cuda_device_count() > 0;
#else
      return false;
#endif
  }
  return false;
}

std::unique_ptr<Backend> make_gpu_backend(BackendKind kind, [[maybe_unused]] const BackendOptions& options) {
  switch (kind) {
    case BackendKind::Cpu: return nullptr;
    case BackendKind::Auto:  // CUDA first: on an NVIDIA GPU it is the faster backend
#ifdef TERN_CUDA
      if (cuda_device_count() > 0) return make_cuda_backend(options);
#endif
#ifdef TERN_VULKAN
      if (vulkan_gpu_available(options.vulkan_device)) return make_vulkan_backend(options);
#endif
      return nullptr;
    case BackendKind::Vulkan:
#ifdef TERN_VULKAN
      return make_vulkan_backend(options);
#else
      throw Error("this tern was built without Vulkan (configure with -DTERN_VULKAN=ON)");
#endif
    case BackendKind::Cuda:
#ifdef TERN_CUDA
      return make_cuda_backend(options);
#else
      throw Error("this tern was built without CUDA (configure with -DTERN_CUDA=ON)");
#endif
  }
  return nullptr;
}

}  // namespace tern
