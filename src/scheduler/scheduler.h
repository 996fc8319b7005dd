// Scheduler: runs a graph over the CPU backend and at most one GPU backend. Each node goes
// to its layer's backend (Placement); a node the GPU backend does not support falls back
// to the CPU. Consecutive nodes on one backend run as one span; activations a span reads
// from the other backend are copied across first. Each backend has its own workspace with
// the graph's offsets, so a copy is a download + upload of the same float range.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "graph/graph.h"
#include "scheduler/placement.h"

namespace tern {

/// Counters of the last run, for tests and diagnostics.
struct ScheduleStats {
  size_t spans = 0;           // backend switches + 1 (+ layer ends with an abort check)
  size_t gpu_nodes = 0;       // nodes the GPU backend ran
  size_t cpu_fallbacks = 0;   // nodes of GPU layers the CPU ran (unsupported there)
  size_t copies = 0;          // activations copied between backends
  size_t copied_bytes = 0;
};

class Scheduler {
 public:
  /// `gpu` may be null (everything on `cpu`); `placement` must have been made for it.
  Scheduler(std::unique_ptr<Backend> cpu, std::unique_ptr<Backend> gpu, Placement placement);

  /// The backend that owns `layer`'s KV cache and runs its nodes.
  Backend& backend_of_layer(int layer);
  Backend* gpu() { return gpu_.get(); }
  const Placement& placement() const { return placement_; }

  /// Runs every node of `g`. With `abort`, a CPU span also ends at each layer's end and
  /// `abort` is asked after every span (a GPU span is not split: that would cost a sync);
  /// when it returns true, run throws tern::Cancelled with the graph partly run.
  void run(const graph::Graph& g, const std::function<bool()>& abort = {});
  /// Copies the F32 activation `id` (after run) into dst (rows x cols floats).
  void read(const graph::Graph& g, graph::TensorId id, float* dst);

  const ScheduleStats& stats() const { return stats_; }

 private:
  static constexpr size_t kCpu = 0;
  static constexpr size_t kGpu = 1;

  size_t assign(const graph::Graph& g, const graph::Node& node) const;
  void make_valid(const graph::Graph& g, graph::TensorId id, size_t on);
  Backend& backend(size_t which) { return which == kCpu ? *cpu_ : *gpu_; }

  std::unique_ptr<Backend> cpu_;
  std::unique_ptr<Backend> gpu_;
  Placement placement_;
  std::array<std::unique_ptr<Buffer>, 2> workspaces_;
  std::vector<uint8_t> valid_;  // per tensor: bit b set = current in backend b's workspace
  std::vector<float> staging_;
  ScheduleStats stats_;
};

}  // namespace tern
