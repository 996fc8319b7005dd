#include "scheduler/scheduler.h"

#include <fmt/format.h>

#include <algorithm>

#include "tern/error.h"

namespace tern {

using graph::Graph;
using graph::Node;
using graph::Storage;
using graph::TensorId;

std::unique_lock<std::mutex> lock(SharedBackend* shared) {
  return shared != nullptr ? std::unique_lock(shared->mutex) : std::unique_lock<std::mutex>();
}

Scheduler::Scheduler(std::unique_ptr<Backend> cpu, SharedBackend* gpu, Placement placement)
    : cpu_(std::move(cpu)), gpu_(gpu), placement_(placement) {
  if (gpu_ == nullptr && placement_.n_gpu_layers() > 0) {
    throw Error("scheduler: GPU layers placed without a GPU backend");
  }
}

Scheduler::~Scheduler() {
  auto held = lock_backend(kGpu);
  workspaces_[kGpu].reset();
}

Backend& Scheduler::backend_of_layer(int layer) {
  return placement_.on_gpu(layer) ? *gpu_->backend : *cpu_;
}

// The layer's backend, or the CPU where the GPU backend cannot run the node. Nodes that
// touch a KV cache must run where the cache lives: no fallback for them.
size_t Scheduler::assign(const Graph& g, const Node& node) const {
  if (!placement_.on_gpu(node.layer)) return kCpu;
  if (auto held = lock(gpu_); gpu_->backend->supports(g, node)) return kGpu;
  bool touches_cache = g.tensor(node.out).storage == Storage::Cache;
  for (TensorId id : node.in) {
    if (id != graph::kNone && g.tensor(id).storage == Storage::Cache) touches_cache = true;
  }
  if (touches_cache) {
    throw Error(fmt::format("{}: cannot run {} of layer {} over its KV cache",
                            gpu_->backend->device().name, graph::op_name(node.op), node.layer));
  }
  return kCpu;
}

// Copies activation `id` into backend `on`'s workspace unless it is current there.
void Scheduler::make_valid(const Graph& g, TensorId id, size_t on) {
  const graph::Tensor& t = g.tensor(id);
  auto& bits = valid_[static_cast<size_t>(id)];
  if (t.storage != Storage::Activation || (bits & (1u << on)) != 0) return;
  if (bits == 0) throw Error(fmt::format("scheduler: tensor {} read before it was written", id));
  size_t from = on == kCpu ? kGpu : kCpu;
  size_t n = static_cast<size_t>(t.rows * t.cols);
  staging_.resize(n);
  {
    auto held = lock_backend(from);
    workspaces_[from]->download(staging_.data(), t.offset * sizeof(float), n * sizeof(float));
  }
  auto held = lock_backend(on);
  workspaces_[on]->upload(staging_.data(), t.offset * sizeof(float), n * sizeof(float));
  bits |= static_cast<uint8_t>(1u << on);
  ++stats_.copies;
  stats_.copied_bytes += n * sizeof(float);
}

void Scheduler::run(const Graph& g, const std::function<bool()>& abort) {
  stats_ = {};
  size_t need = g.workspace_floats() * sizeof(float);
  size_t n_backends = placement_.n_gpu_layers() > 0 ? 2 : 1;  // a GPU with no layers idles
  for (size_t b = 0; b < n_backends; ++b) {
    auto held = lock_backend(b);
    if (!workspaces_[b] || workspaces_[b]->size() < need) workspaces_[b] = backend(b).allocate(need);
  }
  auto nodes = g.nodes();
  TensorId max_id = 0;
  for (const Node& node : nodes) {
    max_id = std::max(max_id, node.out);
    for (TensorId id : node.in) max_id = std::max(max_id, id);
  }
  valid_.assign(static_cast<size_t>(max_id) + 1, 0);
  size_t span_begin = 0;
  size_t span_backend = kCpu;
  for (size_t i = 0; i < nodes.size(); ++i) {
    size_t b = assign(g, nodes[i]);
    const bool layer_end = abort && b == kCpu && span_backend == kCpu && i > span_begin &&
                           nodes[i].layer != nodes[i - 1].layer;
    if (i > span_begin && (b != span_backend || layer_end)) {
      run_span(g, span_backend, span_begin, i);
      span_begin = i;
      ++stats_.spans;
      if (abort && abort()) throw Cancelled();
    }
    span_backend = b;
    for (TensorId id : nodes[i].in) {
      if (id != graph::kNone) make_valid(g, id, b);
    }
    valid_[static_cast<size_t>(nodes[i].out)] = static_cast<uint8_t>(1u << b);
    if (b == kGpu) ++stats_.gpu_nodes;
    if (b == kCpu && placement_.on_gpu(nodes[i].layer)) ++stats_.cpu_fallbacks;
  }
  if (span_begin < nodes.size()) {
    run_span(g, span_backend, span_begin, nodes.size());
    ++stats_.spans;
  }
}

void Scheduler::run_span(const Graph& g, size_t which, size_t first, size_t last) {
  auto held = lock_backend(which);
  backend(which).run(g, first, last, *workspaces_[which]);
}

void Scheduler::read(const Graph& g, TensorId id, float* dst) {
  const graph::Tensor& t = g.tensor(id);
  uint8_t bits = valid_.at(static_cast<size_t>(id));
  size_t from = (bits & (1u << kCpu)) != 0 ? kCpu : kGpu;
  if (t.storage != Storage::Activation || bits == 0) {
    throw Error(fmt::format("scheduler: tensor {} is not a computed activation", id));
  }
  auto held = lock_backend(from);
  workspaces_[from]->download(dst, t.offset * sizeof(float),
                              static_cast<size_t>(t.rows * t.cols) * sizeof(float));
}

}  // namespace tern
