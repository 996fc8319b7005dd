// Registers the CUDA backend with the backend registry when a program links tern::cuda.
// The library is static, so the linker only takes this object when something names one of
// its symbols: tern::cuda's link options name the anchor below (-u), and with the object
// comes the registrar that runs before main.
#include "backends/cuda/cuda_backend.h"
#include "backends/registry.h"

extern "C" {
extern const int tern_cuda_backend_anchor;
const int tern_cuda_backend_anchor = 1;
}

namespace tern {
namespace {

const bool registered = [] {
  register_gpu_backend(
      BackendKind::Cuda,
      {.device_count = cuda_device_count,
       .auto_usable = [](const BackendOptions&) { return cuda_device_count() > 0; },
       .make = make_cuda_backend});
  return true;
}();

}  // namespace
}  // namespace tern
