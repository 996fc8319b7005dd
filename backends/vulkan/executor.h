// Executor: records one command buffer per Backend::run: for every node a descriptor set
// (whole buffers; element offsets travel in push constants), push constants, a dispatch
// and a compute-to-compute barrier; then one submit and one wait.
#pragma once

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "command_stream.h"
#include "device.h"
#include "pipelines.h"

namespace tern::vulkan {

/// Push constants: 32-bit words in the order the shader's Params block declares them.
class Push {
 public:
  /// Appends an unsigned value; throws tern::Error when it does not fit 32 bits.
  Push& u(int64_t v);
  Push& f(float v);
  const uint32_t* data() const { return words_.data(); }
  size_t bytes() const { return n_ * 4; }

 private:
  std::array<uint32_t, kPushBytes / 4> words_{};
  size_t n_ = 0;
};

/// The buffers of bindings 0..3 (binding 4 repeats binding 0).
using Bindings = std::array<VkBuffer, 4>;

class Executor {
 public:
  Executor(Device& device, Pipelines& pipelines);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// Starts recording (the previous run has completed).
  void begin();
  /// Dispatches `groups` workgroups (split over x and z past the 65535 limit) times
  /// `groups_y` of `shader` over `bindings`.
  void dispatch(const std::string& shader, const Bindings& bindings, const Push& push,
                uint64_t groups, uint32_t groups_y = 1);
  /// Submits what was recorded and waits for it.
  void finish();

 private:
  VkDescriptorSet allocate_set();

  Device& device_;
  Pipelines& pipelines_;
  CommandStream stream_;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;            // being recorded between begin() and finish()
  std::vector<VkDescriptorPool> descriptor_pools_;  // kept across runs, reset by begin()
  size_t pool_index_ = 0;                           // the pool sets come from now
  uint32_t sets_in_pool_ = 0;
  bool recording_ = false;
};

}  // namespace tern::vulkan
