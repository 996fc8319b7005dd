// Scheduler: runs a graph over the CPU backend and at most one GPU backend. Each node goes
// to its layer's backend (Placement); a node the GPU backend does not support falls back
// to the CPU. Consecutive nodes on one backend run as one span; activations a span reads
// from the other backend are copied across first. Each backend has its own workspace with
// the graph's offsets, so a copy is a download + upload of the same float range.
// The CPU backend is the scheduler's own; the GPU backend is shared by the sessions of one
// model, so every call on it (and on the buffers it made) is made holding its mutex.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
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

/// A backend several schedulers share (a model's GPU backend): every call on it and on the
/// buffers it made, their destruction included, is made holding `mutex`, so its per-run
/// state (stream or queue, scratch, recordings, buffer registry) serves one run at a time.
struct SharedBackend {
  std::unique_ptr<Backend> backend;
  std::mutex mutex;
};

/// Holds `shared`'s mutex (nothing when it is null).
std::unique_lock<std::mutex> lock(SharedBackend* shared);

class Scheduler {
 public:
  /// `gpu` may be null (everything on `cpu`) and must outlive the scheduler; `placement`
  /// must have been made for it.
  Scheduler(std::unique_ptr<Backend> cpu, SharedBackend* gpu, Placement placement);
  /// Releases the workspaces (the GPU one under its lock).
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// The backend that owns `layer`'s KV cache and runs its nodes; the caller holds the
  /// GPU lock to use it when it is the GPU backend.
  Backend& backend_of_layer(int layer);
  SharedBackend* gpu() { return gpu_; }
  const Placement& placement() const { return placement_; }

  /// Runs every node of `g`. With `abort`, a CPU span also ends at each layer's end and
  /// `abort` is asked after every span (a GPU span is not split: that would cost a sync);
  /// when it returns true, run throws tern::Cancelled with the graph partly run.
  void run(const graph::Graph& g, const std::function<bool()>& abort = {});
  /// Copies the F32 activation `id` (after run) into dst (rows x cols floats).
  void read(const graph::Graph& g, graph::TensorId id, float* dst);

  const ScheduleStats& stats() const { return stats_; }
  /// The CPU backend's operation timing (Backend::time_ops and op_times).
  void time_cpu_ops(bool on) { cpu_->time_ops(on); }
  std::vector<OpTime> cpu_op_times() const { return cpu_->op_times(); }

 private:
  static constexpr size_t kCpu = 0;
  static constexpr size_t kGpu = 1;

  size_t assign(const graph::Graph& g, const graph::Node& node) const;
  void make_valid(const graph::Graph& g, graph::TensorId id, size_t on);
  void run_span(const graph::Graph& g, size_t which, size_t first, size_t last);
  Backend& backend(size_t which) { return which == kCpu ? *cpu_ : *gpu_->backend; }
  std::unique_lock<std::mutex> lock_backend(size_t which) {
    return which == kGpu ? lock(gpu_) : std::unique_lock<std::mutex>();
  }

  std::unique_ptr<Backend> cpu_;
  SharedBackend* gpu_;
  Placement placement_;
  std::array<std::unique_ptr<Buffer>, 2> workspaces_;
  std::vector<uint8_t> valid_;  // per tensor: bit b set = current in backend b's workspace
  std::vector<float> staging_;
  ScheduleStats stats_;
};

}  // namespace tern
