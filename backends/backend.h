// Backend: a device that runs spans of a graph. Each backend has one folder beside this
// file (cpu/, vulkan/, cuda/) and is listed in registry.cpp. The scheduler
// (src/scheduler/) gives each backend a range of layers for -ngl (graph nodes are tagged
// with their layer) and copies activations across.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {

struct DeviceInfo {
  std::string name;          // "cpu", "cuda:0 (NVIDIA H100)"...
  size_t memory_bytes = 0;   // usable memory (0: unknown)
  bool host_memory = false;  // buffers are plain host memory (weights can stay in the mmap)
  double peak_gbps = 0;      // memory bandwidth the device claims, GB/s (0: unknown)
};

/// Device memory with one owner. Host backends hand out plain pointers.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual size_t size() const = 0;
  /// Host-visible address of the contents, or nullptr for device-only memory.
  virtual void* host_data() = 0;
  virtual void upload(const void* src, size_t offset, size_t n) = 0;
  virtual void download(void* dst, size_t offset, size_t n) const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceInfo device() const = 0;
  /// A zero-filled buffer of `bytes`.
  virtual std::unique_ptr<Buffer> allocate(size_t bytes) = 0;
  /// Whether this backend can run `node` of `graph` (op and operand types).
  virtual bool supports(const graph::Graph& graph, const graph::Node& node) const = 0;
  /// Runs nodes [first, last) of `graph`; activations live in `workspace`, which holds at
  /// least graph.workspace_floats() floats.
  virtual void run(const graph::Graph& graph, size_t first, size_t last, Buffer& workspace) = 0;
  /// Starts (true) or stops and clears timing the operations run() runs; a backend that
  /// cannot time them one by one (an asynchronous device) ignores it.
  virtual void time_ops(bool /*on*/) {}
  /// The times since time_ops(true) by kind of operation, the largest first (empty when
  /// not timed).
  virtual std::vector<OpTime> op_times() const { return {}; }
};

namespace cpu {
class RepackedWeights;
}

/// Options of the backends; each reads its own.
struct BackendOptions {
  int n_threads = 0;  // CPU: 0, one per physical core
  CpuKernels cpu_kernels = CpuKernels::Auto;
  bool repack = true;  // CPU: interleaved weight copies (backends/cpu/repack.h)
  /// CPU: the store of interleaved copies, shared by the CPU backends of one model's
  /// sessions (thread-safe); null: the backend keeps its own.
  cpu::RepackedWeights* repacked = nullptr;
  int cuda_device = 0;
  int vulkan_device = -1;  // -1: the best device
};

/// The CPU backend (backends/cpu/): the SIMD kernels of the level `cpu_kernels` selects
/// where it has them, the scalar reference kernels elsewhere. Throws tern::Error for a
/// level this CPU lacks.
std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options);

}  // namespace tern
