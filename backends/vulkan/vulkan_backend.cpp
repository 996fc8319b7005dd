#include "vulkan_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "backends/buffer_registry.h"
#include "backends/run_data.h"
#include "device.h"
#include "executor.h"
#include "graph/launch_key.h"
#include "memory.h"
#include "ops.h"
#include "pipelines.h"
#include "tern/error.h"
#include "weights.h"

namespace tern {

namespace vulkan {

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;

// Recorded decode steps kept: one per span, up to one per layer with CPU fallbacks inside
// layers (see LaunchGraphs' kMaxGraphs).
constexpr size_t kMaxPrograms = 64;

// TERN_VULKAN_REPLAY=0: record every run anew (for comparison and debugging).
bool replay_enabled() {
  const char* env = std::getenv("TERN_VULKAN_REPLAY");
  return env == nullptr || std::strcmp(env, "0") != 0;
}

// A decode step's recording: the command buffer and descriptor sets, submitted again on
// later steps with new per-run data (positions, ids, rope tables in the aux buffer).
struct Recorded {
  std::unique_ptr<vulkan::Program> program;
  bool complete = false;  // recorded without error
};

class VulkanBackend final : public Backend {
 public:
  explicit VulkanBackend(int device_index)
      : device_(device_index),
        memory_(device_),
        pipelines_(device_),
        executor_(device_, pipelines_),
        weights_(memory_),
        replay_(replay_enabled()),
        programs_(kMaxPrograms) {}

  DeviceInfo device() const override {
    const auto& info = device_.info();
    return {fmt::format("vulkan:{} ({})", info.index, info.name),
            static_cast<size_t>(info.device_local_bytes), false};
  }

  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    return buffers_.adopt(memory_.allocate(bytes));
  }

  bool supports(const Graph& g, const Node& node) const override;
  void run(const Graph& g, size_t first, size_t last, Buffer& workspace) override;

 private:
  void record(vulkan::OpContext& c, const Node& node);
  // The launch key of nodes [first, last) over `workspace`: buffers by serial.
  std::vector<uint64_t> span_key(const Graph& g, size_t first, size_t last,
                                 const vulkan::DeviceBuffer& workspace) const;

  vulkan::Device device_;
  vulkan::Memory memory_;
  vulkan::Pipelines pipelines_;
  vulkan::Executor executor_;
  vulkan::WeightStore weights_;
  BufferRegistry<vulkan::DeviceBuffer> buffers_;  // workspaces and KV caches handed out
  RunData run_data_;                  // of the span run() is running
  std::unique_ptr<DeviceBuffer> aux_;  // run_data_ on the device (host-visible)
  bool replay_;
  graph::LaunchCache<Recorded> programs_;
};

bool VulkanBackend::supports(const Graph& g, const Node& node) const {
  vulkan::OpLimits limits{device_.limits().maxStorageBufferRange,
                          [this](const Buffer* b) { return buffers_.find(b) != nullptr; }};
  if (g.workspace_floats() * sizeof(float) > limits.max_buffer_bytes) return false;
  for (graph::TensorId id : node.in) {
    if (id != graph::kNone && g.tensor(id).storage == graph::Storage::Cache &&
        !limits.owns_cache(g.tensor(id).cache)) {
      return false;
    }
  }
  switch (node.op) {
    case Op::MatMul: return vulkan::supports_matmul(limits, g, node);
    case Op::GetRows: return vulkan::supports_get_rows(limits, g, node);
    case Op::Rope: return vulkan::supports_rope(limits, g, node);
    case Op::Attention: return vulkan::supports_attention(limits, g, node);
    case Op::Copy: return vulkan::supports_copy(limits, g, node);
    case Op::RmsNorm:
    case Op::SwiGlu:
    case Op::GeGlu:
    case Op::Add:
    case Op::Scale:
    case Op::SoftCap:
    case Op::SwiGluOai: return vulkan::supports_elementwise(limits, g, node);
    case Op::ExpertRoute:
    case Op::ExpertMatMul:
    case Op::ExpertMix:
    case Op::ExpertAdd: return vulkan::supports_experts(limits, g, node);
    case Op::LayerNorm:  // encoders' ops run on the CPU
    case Op::Gelu:
      return false;
  }
  return false;
}

void VulkanBackend::record(vulkan::OpContext& c, const Node& node) {
  switch (node.op) {
    case Op::MatMul: vulkan::record_matmul(c, node); break;
    case Op::GetRows: vulkan::record_get_rows(c, node); break;
    case Op::Rope: vulkan::record_rope(c, node); break;
    case Op::Attention: vulkan::record_attention(c, node); break;
    case Op::Copy: vulkan::record_copy(c, node); break;
    case Op::RmsNorm:
    case Op::SwiGlu:
    case Op::GeGlu:
    case Op::Add:
    case Op::Scale:
    case Op::SoftCap:
    case Op::SwiGluOai: vulkan::record_elementwise(c, node); break;
    case Op::ExpertRoute:
    case Op::ExpertMatMul:
    case Op::ExpertMix:
    case Op::ExpertAdd:
      vulkan::record_experts(c, node);
      break;
    case Op::LayerNorm:
    case Op::Gelu:
      throw Error(fmt::format("vulkan: no {} shader", graph::op_name(node.op)));
  }
}

std::vector<uint64_t> VulkanBackend::span_key(const Graph& g, size_t first, size_t last,
                                              const vulkan::DeviceBuffer& workspace) const {
  std::vector<uint64_t> key = {workspace.serial(), aux_->serial()};
  auto cache_id = [this](const Buffer* cache) -> uint64_t {
    vulkan::DeviceBuffer* r = buffers_.find(cache);
    return r != nullptr ? r->serial() : 0;
  };
  for (size_t i = first; i < last; ++i) graph::append_launch_key(g, g.nodes()[i], cache_id, key);
  return key;
}

// Single-token spans (decode steps) are recorded once per launch key and submitted again
// with the new per-run data; other spans are recorded anew each run.
void VulkanBackend::run(const Graph& g, size_t first, size_t last, Buffer& workspace) {
  vulkan::DeviceBuffer* ws = buffers_.find(&workspace);
  if (ws == nullptr) throw Error("vulkan: the workspace is not a buffer of this backend");
  if (workspace.size() < g.workspace_floats() * sizeof(float)) {
    throw Error("vulkan: workspace smaller than the graph needs");
  }
  run_data_.gather(g, first, last);  // checks ids and positions before anything is recorded
  std::span<const uint32_t> words = run_data_.words();
  size_t aux_bytes = std::max<size_t>(words.size(), 4) * 4;  // a buffer to bind even if empty
  if (!aux_ || aux_->size() < aux_bytes) aux_ = memory_.allocate(aux_bytes, true);
  if (!words.empty()) aux_->upload(words.data(), 0, words.size() * 4);
  vulkan::OpContext c{g,
                      executor_,
                      weights_,
                      ws->handle(),
                      aux_->handle(),
                      [this](const Buffer* b) -> vulkan::DeviceBuffer* {
                        vulkan::DeviceBuffer* r = buffers_.find(b);
                        if (r == nullptr) throw Error("vulkan: KV cache of another backend");
                        return r;
                      }};
  Recorded* recorded = nullptr;
  if (replay_ && g.n_tokens() == 1) {
    recorded = &programs_.get(span_key(g, first, last, *ws));
    if (!recorded->program) recorded->program = std::make_unique<vulkan::Program>(device_);
  }
  if (recorded != nullptr && recorded->complete) {
    executor_.replay(*recorded->program);
    return;
  }
  executor_.begin(recorded != nullptr ? recorded->program.get() : nullptr);
  try {
    for (size_t i = first; i < last; ++i) {
      c.aux_at = run_data_.at(i);
      record(c, g.nodes()[i]);
    }
  } catch (...) {
    executor_.finish();  // submit what was recorded: the command buffer must not dangle
    throw;
  }
  executor_.finish();
  if (recorded != nullptr) recorded->complete = true;
}

}  // namespace
}  // namespace vulkan

size_t vulkan_device_count() { return vulkan::list_devices().size(); }

bool vulkan_gpu_available(int device_index) {
  auto devices = vulkan::list_devices();
  if (devices.empty()) return false;
  try {
    return vulkan::choose_device(devices, device_index).type != VK_PHYSICAL_DEVICE_TYPE_CPU;
  } catch (const Error&) {
    return false;
  }
}

std::unique_ptr<Backend> make_vulkan_backend(const BackendOptions& options) {
  return std::make_unique<vulkan::VulkanBackend>(options.vulkan_device);
}

}  // namespace tern
