#include "scheduler/model_backends.h"

#include <fmt/format.h>

#include "backends/cpu/cpu_features.h"
#include "backends/registry.h"
#include "tern/error.h"

namespace tern {

namespace {

// Encoders run on the CPU alone: Auto chooses it, a named GPU backend is refused.
std::unique_ptr<Backend> make_gpu_for(const ArchModel& arch, const ModelOptions& options) {
  if (options.n_gpu_layers == 0) return nullptr;
  if (arch.encoder()) {
    if (options.backend == BackendKind::Auto || options.backend == BackendKind::Cpu) return nullptr;
    throw Error(fmt::format(
        "{} is an encoder, which runs on the CPU only (its bidirectional attention, LayerNorm "
        "and GELU have no GPU kernels): use the cpu or auto backend",
        arch.spec().arch));
  }
  return make_gpu_backend(options.backend, {.cuda_device = options.cuda_device,
                                            .vulkan_device = options.vulkan_device});
}

}  // namespace

ModelBackends::ModelBackends(const ArchModel& arch, const ModelOptions& options)
    : cpu_options_{.cpu_kernels = options.cpu_kernels,
                   .repack = options.repack,
                   .repacked = &repacked_},
      gpu_{make_gpu_for(arch, options)},
      placement_(arch.spec().n_layer, options.n_gpu_layers, gpu_.backend != nullptr) {
  if (options.repack) interleave_cpu_weights(arch, options);
}

// Made here, once per model and before any session decodes (as llama.cpp repacks at load):
// made lazily, the copies would land in the first decode step a user waits on, e.g. the
// one token a prompt-cache hit leaves to decode. The file's pages of each copied weight are
// unmapped but stay in the page cache. Dropped from it (MADV_PAGEOUT, until 2026-12-08),
// they made the next process read the whole file from the disk again (the 1B Q4_K_M file
// loaded in 0.7-1.4 s after such a run, 0.3-0.5 s after one that keeps them) and every
// token's row of a tied embedding table too (Gemma 3 270M: 0.7-1.2 ms of a ~10 ms step).
void ModelBackends::interleave_cpu_weights(const ArchModel& arch, const ModelOptions& options) {
  cpu::Isa isa = cpu::isa_of(options.cpu_kernels);
  int n_threads = cpu::physical_cores();
  for (const ArchModel::Matrix& m : arch.matrices()) {
    if (placement_.on_gpu(m.layer)) continue;
    repacked_.get(m.info->type, m.info->data, m.info->n_rows(), m.info->ne[0], isa, n_threads,
                  cpu::FilePages::UnmapShared);
  }
}

std::unique_ptr<Backend> ModelBackends::make_cpu_backend(int n_threads) const {
  BackendOptions options = cpu_options_;
  options.n_threads = n_threads;
  return tern::make_cpu_backend(options);
}

}  // namespace tern
