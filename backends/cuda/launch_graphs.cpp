#include "launch_graphs.h"

#include <cstdlib>
#include <cstring>
#include <exception>

#include "device.h"
#include "tern/error.h"

namespace tern::cuda {

namespace {

// Graphs kept: a decode step needs one per span, one in all or a few with -ngl splits,
// up to one per layer where nodes fall back to the CPU inside every layer (the spans
// come round in a fixed cycle, so too small a cache would drop each just before use).
constexpr size_t kMaxGraphs = 64;

}  // namespace

LaunchGraphs::LaunchGraphs() : mode_(Mode::On), graphs_(kMaxGraphs) {
  const char* env = std::getenv("TERN_CUDA_GRAPHS");
  if (env == nullptr) return;
  if (std::strcmp(env, "0") == 0) mode_ = Mode::Off;
  if (std::strcmp(env, "strict") == 0) mode_ = Mode::Strict;
}

// Nothing runs while a stream captures, so a capture that fails has changed nothing on
// the device: the caller enqueues the span directly instead (and meets any real error).
LaunchGraphs::Exec LaunchGraphs::capture(cudaStream_t stream, const std::function<void()>& enqueue,
                                         std::string& why) {
  // Thread-local mode: an allocation or synchronization inside the span fails the capture
  // rather than silently escaping it.
  cudaError_t status = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    why = std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(status);
    return nullptr;
  }
  try {
    enqueue();
  } catch (const std::exception& e) {
    why = e.what();
  } catch (...) {
    why = "an exception";  // whatever it was, the capture must still end
  }
  cudaGraph_t graph = nullptr;
  status = cudaStreamEndCapture(stream, &graph);
  if (status != cudaSuccess && why.empty()) {
    why = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(status);
  }
  cudaGraphExec_t exec = nullptr;
  if (why.empty()) {
    status = graph_instantiate(&exec, graph);
    if (status != cudaSuccess)
      why = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(status);
  }
  if (graph != nullptr) (void)cudaGraphDestroy(graph);
  if (!why.empty()) {
    (void)cudaGetLastError();  // a failed capture leaves no sticky error; clear what it left
    return nullptr;
  }
  return Exec(exec);
}

void LaunchGraphs::run(const std::vector<uint64_t>& key, cudaStream_t stream,
                       const std::function<void()>& enqueue) {
  if (mode_ == Mode::Off) {
    enqueue();
    return;
  }
  Recording& r = graphs_.get(key);
  if (!r.exec && !r.uncapturable && r.runs++ > 0) {
    std::string why;
    r.exec = capture(stream, enqueue, why);
    if (!r.exec && mode_ == Mode::Strict) {
      throw Error("cuda: a decode step failed to capture: " + why);
    }
    r.uncapturable = !r.exec;
  }
  if (r.exec) {
    TERN_CUDA_CHECK(cudaGraphLaunch(r.exec.get(), stream));
  } else {
    enqueue();
  }
}

}  // namespace tern::cuda
