// Pipelines: one compute pipeline per embedded shader, created on first use. Every
// pipeline shares one layout: five storage buffers (0 weights/table, 1 workspace, 2 and 3
// operands, 4 = binding 0 viewed as 16-bit words) and kPushBytes of push constants.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "device.h"

namespace tern::vulkan {

inline constexpr uint32_t kBindings = 5;
inline constexpr uint32_t kPushBytes = 128;  // the minimum every device supports

class Pipelines {
 public:
  explicit Pipelines(Device& device);
  ~Pipelines();
  Pipelines(const Pipelines&) = delete;
  Pipelines& operator=(const Pipelines&) = delete;

  /// The pipeline of shader `name` ("matmul_vec_q4_k") in the variant the device runs.
  VkPipeline get(const std::string& name);
  /// Whether an embedded shader `name` exists (in either variant).
  static bool exists(const std::string& name);

  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }

 private:
  Device& device_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  std::unordered_map<std::string, VkPipeline> pipelines_;
};

}  // namespace tern::vulkan
