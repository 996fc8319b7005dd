// LaunchGraphs: CUDA Graphs for the spans a backend runs over and over (decode steps),
// which otherwise pay one host-side launch per node, several hundred per token.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "gpu_runtime.h"
#include "graph/launch_key.h"

namespace tern::cuda {

/// Captures and replays a stream's launch sequences, each named by a launch key (every
/// word that shapes its launches, device addresses included). What changes from run to
/// run (positions, row ids, rope tables) must reach the kernels through device memory,
/// never through launch arguments. The first run of a key is enqueued as is (it uploads
/// weights and grows scratch memory), the second is captured into a graph and launched,
/// later ones replay that graph. A span that cannot be captured is enqueued directly from
/// then on. TERN_CUDA_GRAPHS=0 turns capture off; TERN_CUDA_GRAPHS=strict makes a failed
/// capture an error (tests, and finding out why a decode is slow).
class LaunchGraphs {
 public:
  LaunchGraphs();

  /// Enqueues the span `enqueue` issues on `stream`: directly, captured, or replayed.
  /// The previous run's work must have finished (a graph may be freed here).
  void run(const std::vector<uint64_t>& key, cudaStream_t stream,
           const std::function<void()>& enqueue);

  bool enabled() const { return mode_ != Mode::Off; }

 private:
  struct ExecDeleter {
    void operator()(cudaGraphExec_t exec) const { (void)cudaGraphExecDestroy(exec); }
  };
  using Exec = std::unique_ptr<std::remove_pointer_t<cudaGraphExec_t>, ExecDeleter>;
  struct Recording {
    int runs = 0;
    bool uncapturable = false;  // a capture failed: always enqueue directly
    Exec exec;
  };
  enum class Mode { Off, On, Strict };

  // The graph, or null with `why` set.
  static Exec capture(cudaStream_t stream, const std::function<void()>& enqueue, std::string& why);

  Mode mode_;
  graph::LaunchCache<Recording> graphs_;
};

}  // namespace tern::cuda
