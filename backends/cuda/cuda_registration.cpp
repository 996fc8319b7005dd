// Registers the backend with the backend registry when a program links tern::cuda (or, built
// for AMD GPUs with -DTERN_HIP=ON, tern::hip). The library is static, so the linker only
// takes this object when something names one of its symbols: the component's link options
// name the anchor below (-u), and with the object comes the registrar that runs before main.
#include "backends/cuda/cuda_backend.h"
#include "backends/registry.h"

#ifdef TERN_HIP
#define TERN_BACKEND_ANCHOR tern_hip_backend_anchor
#else
#define TERN_BACKEND_ANCHOR tern_cuda_backend_anchor
#endif

extern "C" {
extern const int TERN_BACKEND_ANCHOR;
const int TERN_BACKEND_ANCHOR = 1;
}

namespace tern {
namespace {

#ifdef TERN_HIP
constexpr BackendKind kKind = BackendKind::Hip;
#else
constexpr BackendKind kKind = BackendKind::Cuda;
#endif

const bool registered = [] {
  register_gpu_backend(
      kKind, {.device_count = cuda_device_count,
              .auto_usable = [](const BackendOptions&) { return cuda_device_count() > 0; },
              .make = make_cuda_backend});
  return true;
}();

}  // namespace
}  // namespace tern
