// ModelBackends: what the sessions of one model share, made once from its ModelOptions: the
// GPU backend asked for (holding the weights it uploads), the CPU's store of interleaved
// weights (made for the CPU's layers when the model's backends are made), and the layer
// placement. Each session makes its own CPU backend over that store
// (its per-run scratch and thread count are the session's) and takes turns on the GPU
// backend under its mutex (SharedBackend), so the weights exist once per model.
#pragma once

#include <memory>

#include "arch/architecture.h"
#include "backends/backend.h"
#include "backends/cpu/repack.h"
#include "scheduler/placement.h"
#include "scheduler/scheduler.h"
#include "tern/model.h"

namespace tern {

class ModelBackends {
 public:
  /// Makes the GPU backend `options` ask for (none when n_gpu_layers is 0, nor for an
  /// encoder with the auto backend) and places the layers; throws tern::Error when the
  /// backend cannot be made or the model is an encoder and a GPU backend is named.
  ModelBackends(const ArchModel& arch, const ModelOptions& options);

  const Placement& placement() const { return placement_; }
  /// The GPU backend, or nullptr when every layer runs on the CPU.
  SharedBackend* gpu() { return gpu_.backend ? &gpu_ : nullptr; }
  /// A CPU backend over the model's interleaved weights, for one session.
  std::unique_ptr<Backend> make_cpu_backend(int n_threads) const;

 private:
  void interleave_cpu_weights(const ArchModel& arch, const ModelOptions& options);

  cpu::RepackedWeights repacked_;  // thread-safe: sessions fill it concurrently
  BackendOptions cpu_options_;
  SharedBackend gpu_;
  Placement placement_;
};

}  // namespace tern
