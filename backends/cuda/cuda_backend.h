// The CUDA backend (built with -DTERN_CUDA=ON): every graph op on one NVIDIA GPU; see
// backends/cuda/README.md for the design.
#pragma once

#include <cstddef>
#include <memory>

#include "backends/backend.h"

namespace tern {

/// CUDA devices on this machine (0 without a driver or a device).
size_t cuda_device_count();
/// The backend on device options.cuda_device; throws tern::Error when there is none.
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options);

}  // namespace tern
