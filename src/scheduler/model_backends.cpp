#include "scheduler/model_backends.h"

#include "backends/registry.h"

namespace tern {

ModelBackends::ModelBackends(const ArchModel& arch, const ModelOptions& options)
    : cpu_options_{.cpu_kernels = options.cpu_kernels,
                   .repack = options.repack,
                   .repacked = &repacked_},
      gpu_{options.n_gpu_layers == 0
               ? nullptr
               : make_gpu_backend(options.backend, {.cuda_device = options.cuda_device,
                                                    .vulkan_device = options.vulkan_device})},
      placement_(arch.spec().n_layer, options.n_gpu_layers, gpu_.backend != nullptr) {}

std::unique_ptr<Backend> ModelBackends::make_cpu_backend(int n_threads) const {
  BackendOptions options = cpu_options_;
  options.n_threads = n_threads;
  return tern::make_cpu_backend(options);
}

}  // namespace tern
