// Registers the Vulkan backend with the backend registry when a program links tern::vulkan.
// The library is static, so the linker only takes this object when something names one of
// its symbols: tern::vulkan's link options name the anchor below (-u), and with the object
// comes the registrar that runs before main.
#include "backends/registry.h"
#include "backends/vulkan/vulkan_backend.h"

extern "C" {
extern const int tern_vulkan_backend_anchor;
const int tern_vulkan_backend_anchor = 1;
}

namespace tern {
namespace {

const bool registered = [] {
  register_gpu_backend(
      BackendKind::Vulkan,
      {.device_count = vulkan_device_count,
       .auto_usable = [](const BackendOptions& o) { return vulkan_gpu_available(o.vulkan_device); },
       .make = make_vulkan_backend});
  return true;
}();

}  // namespace
}  // namespace tern
