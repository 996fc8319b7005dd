#include "launch_graphs.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "device.h"
#include "tern/error.h"

namespace tern::cuda {

namespace {

// Graphs kept: a session's decode needs one per span shape (one, or a few with -ngl
// splits); more than this means shapes that keep changing, where old graphs are waste.
constexpr size_t kMaxGraphs = 16;

uint64_t hash_words(const std::vector<uint64_t>& words) {
  uint64_t h = 0x9e3779b97f4a7c15u;
  for (uint64_t w : words) {
    h = (h ^ w) * 0xbf58476d1ce4e5b9u;
    h ^= h >> 31;
  }
  return h;
}

}  // namespace

LaunchGraphs::LaunchGraphs() : mode_(Mode::On) {
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
    cudaGetLastError();
    why = std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(status);
    return nullptr;
  }
  try {
    enqueue();
  } catch (const std::exception& e) {
    why = e.what();
  }
  cudaGraph_t graph = nullptr;
  status = cudaStreamEndCapture(stream, &graph);
  if (status != cudaSuccess && why.empty()) {
    why = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(status);
  }
  cudaGraphExec_t exec = nullptr;
  if (why.empty()) {
    status = cudaGraphInstantiate(&exec, graph, 0);
    if (status != cudaSuccess)
      why = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(status);
  }
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (!why.empty()) {
    cudaGetLastError();  // a failed capture leaves no sticky error; clear what it left
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
  const uint64_t hash = hash_words(key);
  if (entries_.count(hash) == 0 && entries_.size() >= kMaxGraphs) evict_oldest();
  Entry& e = entries_[hash];
  if (e.key != key) e = Entry{key};  // new, or a hash collision: start over
  e.last_used = ++clock_;
  if (!e.exec && !e.uncapturable && e.runs++ > 0) {
    std::string why;
    e.exec = capture(stream, enqueue, why);
    if (!e.exec && mode_ == Mode::Strict)
      throw Error("cuda: a decode step failed to capture: " + why);
    e.uncapturable = !e.exec;
  }
  if (e.exec) {
    TERN_CUDA_CHECK(cudaGraphLaunch(e.exec.get(), stream));
  } else {
    enqueue();
  }
}

void LaunchGraphs::evict_oldest() {
  auto oldest = std::min_element(
      entries_.begin(), entries_.end(),
      [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
  if (oldest != entries_.end()) entries_.erase(oldest);
}

}  // namespace tern::cuda
