#include "vulkan_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "device.h"
#include "executor.h"
#include "memory.h"
#include "ops.h"
#include "pipelines.h"
#include "tern/error.h"
#include "weights.h"

namespace tern {

namespace vulkan {

uint64_t OpContext::append_aux(const uint32_t* words, size_t n) {
  aux_data.resize((aux_data.size() + 3) & ~size_t{3});  // 16-byte aligned starts
  uint64_t at = aux_data.size();
  aux_data.insert(aux_data.end(), words, words + n);
  return at;
}

uint64_t aux_words(const graph::Graph& g, const graph::Node& node) {
  uint64_t n = 0;
  if (node.op == graph::Op::GetRows) n = static_cast<uint64_t>(g.tensor(node.in[1]).rows);
  if (node.op == graph::Op::Rope) {
    n = static_cast<uint64_t>(g.tensor(node.in[0]).rows) *
        static_cast<uint64_t>(std::get<graph::RopeParams>(node.params).n_rot);
  }
  return n + 3;  // alignment padding
}

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;

class VulkanBackend final : public Backend {
 public:
  VulkanBackend()
      : memory_(device_), pipelines_(device_), executor_(device_, pipelines_), weights_(memory_) {}

  DeviceInfo device() const override {
    const auto& info = device_.info();
    return {fmt::format("vulkan:{} ({})", info.index, info.name),
            static_cast<size_t>(info.device_local_bytes), false};
  }

  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    auto buffer = std::make_unique<Registered>(*this, bytes);
    return buffer;
  }

  bool supports(const Graph& g, const Node& node) const override;
  void run(const Graph& g, size_t first, size_t last, Buffer& workspace) override;

 private:
  // A buffer this backend made, findable by address while it lives (caches are named
  // by their Buffer object in the graph; see KvCache).
  class Registered final : public Buffer {
   public:
    Registered(VulkanBackend& owner, size_t bytes)
        : owner_(owner), buffer_(owner.memory_.allocate(bytes)) {
      owner_.live_.insert(this);
    }
    ~Registered() override { owner_.live_.erase(this); }
    size_t size() const override { return buffer_->size(); }
    void* host_data() override { return nullptr; }
    void upload(const void* src, size_t offset, size_t n) override {
      buffer_->upload(src, offset, n);
    }
    void download(void* dst, size_t offset, size_t n) const override {
      buffer_->download(dst, offset, n);
    }
    DeviceBuffer& device_buffer() { return *buffer_; }

   private:
    VulkanBackend& owner_;
    std::unique_ptr<DeviceBuffer> buffer_;
  };

  Registered* find(const void* address) const {
    auto* b = static_cast<Buffer*>(const_cast<void*>(address));
    return live_.count(b) != 0 ? static_cast<Registered*>(b) : nullptr;
  }
  void record(vulkan::OpContext& c, const Node& node);

  vulkan::Device device_;
  vulkan::Memory memory_;
  vulkan::Pipelines pipelines_;
  vulkan::Executor executor_;
  vulkan::WeightStore weights_;
  std::unordered_set<const Buffer*> live_;
  std::unique_ptr<DeviceBuffer> aux_;
  std::vector<uint32_t> aux_data_;
};

bool VulkanBackend::supports(const Graph& g, const Node& node) const {
  vulkan::OpLimits limits{device_.limits().maxStorageBufferRange,
                          [this](const void* a) { return find(a) != nullptr; }};
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
    case Op::Softcap: return vulkan::supports_elementwise(limits, g, node);
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
    case Op::Softcap: vulkan::record_elementwise(c, node); break;
  }
}

void VulkanBackend::run(const Graph& g, size_t first, size_t last, Buffer& workspace) {
  Registered* ws = find(&workspace);
  if (ws == nullptr) throw Error("vulkan: the workspace is not a buffer of this backend");
  if (workspace.size() < g.workspace_floats() * sizeof(float)) {
    throw Error("vulkan: workspace smaller than the graph needs");
  }
  uint64_t aux_words = 4;
  for (size_t i = first; i < last; ++i) aux_words += vulkan::aux_words(g, g.nodes()[i]);
  if (!aux_ || aux_->size() < aux_words * 4) aux_ = memory_.allocate(aux_words * 4, true);
  aux_data_.clear();
  vulkan::OpContext c{g,
                      executor_,
                      weights_,
                      ws->device_buffer().handle(),
                      aux_->handle(),
                      aux_data_,
                      [this](const void* a) -> vulkan::DeviceBuffer* {
                        Registered* r = find(a);
                        if (r == nullptr) throw Error("vulkan: KV cache of another backend");
                        return &r->device_buffer();
                      }};
  executor_.begin();
  try {
    for (size_t i = first; i < last; ++i) record(c, g.nodes()[i]);
  } catch (...) {
    executor_.finish();  // submit what was recorded: the command buffer must not dangle
    throw;
  }
  if (!aux_data_.empty()) aux_->upload(aux_data_.data(), 0, aux_data_.size() * 4);
  executor_.finish();
}

}  // namespace
}  // namespace vulkan

size_t vulkan_device_count() { return vulkan::list_devices().size(); }

bool vulkan_gpu_available() {
  auto devices = vulkan::list_devices();
  if (devices.empty()) return false;
  try {
    return vulkan::choose_device(devices).type != VK_PHYSICAL_DEVICE_TYPE_CPU;
  } catch (const Error&) {
    return false;
  }
}

std::unique_ptr<Backend> make_vulkan_backend(const BackendOptions&) {
  return std::make_unique<vulkan::VulkanBackend>();
}

}  // namespace tern
