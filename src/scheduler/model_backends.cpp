#include "scheduler/model_backends.h"

#include "backends/cpu/cpu_features.h"
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
      placement_(arch.spec().n_layer, options.n_gpu_layers, gpu_.backend != nullptr) {
  if (options.repack) interleave_cpu_weights(arch, options);
}

// Made here, once per model and before any session decodes (as llama.cpp repacks at load):
// made lazily, the copies would land in the first decode step a user waits on, e.g. the
// one token a prompt-cache hit leaves to decode.
void ModelBackends::interleave_cpu_weights(const ArchModel& arch, const ModelOptions& options) {
  cpu::Isa isa = cpu::isa_of(options.cpu_kernels);
  int n_threads = cpu::physical_cores();
  for (const ArchModel::Matrix& m : arch.matrices()) {
    if (placement_.on_gpu(m.layer)) continue;
    repacked_.get(m.info->type, m.info->data, m.info->n_rows(), m.info->ne[0], isa, n_threads);
  }
}

std::unique_ptr<Backend> ModelBackends::make_cpu_backend(int n_threads) const {
  BackendOptions options = cpu_options_;
  options.n_threads = n_threads;
  return tern::make_cpu_backend(options);
}

}  // namespace tern
