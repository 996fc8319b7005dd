#include "pipelines.h"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <vector>

#include "spirv.h"
#include "tern/error.h"

namespace tern::vulkan {

namespace {

const SpirvModule* find_module(std::string_view name) {
  for (const SpirvModule& m : spirv_modules()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

}  // namespace

Pipelines::Pipelines(Device& device) : device_(device) {
  std::array<VkDescriptorSetLayoutBinding, kBindings> bindings{};
  for (uint32_t i = 0; i < kBindings; ++i) {
    bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  }
  VkDescriptorSetLayoutCreateInfo set{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  set.bindingCount = kBindings;
  set.pBindings = bindings.data();
  check(vkCreateDescriptorSetLayout(device.handle(), &set, nullptr, &set_layout_),
        "vkCreateDescriptorSetLayout");
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes};
  VkPipelineLayoutCreateInfo layout{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layout.setLayoutCount = 1;
  layout.pSetLayouts = &set_layout_;
  layout.pushConstantRangeCount = 1;
  layout.pPushConstantRanges = &push;
  check(vkCreatePipelineLayout(device.handle(), &layout, nullptr, &layout_),
        "vkCreatePipelineLayout");
  VkPipelineCacheCreateInfo cache{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  check(vkCreatePipelineCache(device.handle(), &cache, nullptr, &cache_), "vkCreatePipelineCache");
}

Pipelines::~Pipelines() {
  for (auto& [name, p] : pipelines_) vkDestroyPipeline(device_.handle(), p, nullptr);
  vkDestroyPipelineCache(device_.handle(), cache_, nullptr);
  vkDestroyPipelineLayout(device_.handle(), layout_, nullptr);
  vkDestroyDescriptorSetLayout(device_.handle(), set_layout_, nullptr);
}

bool Pipelines::exists(const std::string& name) { return find_module(name + "_basic") != nullptr; }

VkPipeline Pipelines::get(const std::string& name) {
  auto it = pipelines_.find(name);
  if (it != pipelines_.end()) return it->second;
  std::string full = name + (device_.fast_shaders() ? "_fast" : "_basic");
  const SpirvModule* m = find_module(full);
  if (m == nullptr) throw Error(fmt::format("vulkan: no shader {}", full));
  std::vector<uint32_t> code(m->bytes / 4);
  std::memcpy(code.data(), m->code, code.size() * 4);
  VkShaderModuleCreateInfo module{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  module.codeSize = code.size() * 4;
  module.pCode = code.data();
  VkShaderModule shader = VK_NULL_HANDLE;
  check(vkCreateShaderModule(device_.handle(), &module, nullptr, &shader), "vkCreateShaderModule");
  VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  info.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = shader;
  info.stage.pName = "main";
  info.layout = layout_;
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkResult r = vkCreateComputePipelines(device_.handle(), cache_, 1, &info, nullptr, &pipeline);
  vkDestroyShaderModule(device_.handle(), shader, nullptr);
  check(r, fmt::format("creating pipeline {}", full));
  pipelines_.emplace(name, pipeline);
  return pipeline;
}

}  // namespace tern::vulkan
