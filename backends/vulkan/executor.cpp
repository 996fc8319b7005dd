#include "executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "tern/error.h"

namespace tern::vulkan {

namespace {

constexpr uint32_t kSetsPerPool = 1024;
constexpr uint64_t kMaxGroupsX = 65535;  // the minimum maxComputeWorkGroupCount[0]

}  // namespace

Push& Push::u(int64_t v) {
  if (v < 0 || v > int64_t{UINT32_MAX}) {
    throw Error(fmt::format("vulkan: shader argument {} does not fit 32 bits", v));
  }
  if (n_ == words_.size()) throw Error("vulkan: too many push constants");
  words_[n_++] = static_cast<uint32_t>(v);
  return *this;
}

Push& Push::f(float v) {
  if (n_ == words_.size()) throw Error("vulkan: too many push constants");
  std::memcpy(&words_[n_++], &v, 4);
  return *this;
}

Executor::Executor(Device& device, Pipelines& pipelines)
    : device_(device), pipelines_(pipelines), stream_(device) {}

Executor::~Executor() {
  for (VkDescriptorPool p : descriptor_pools_)
    vkDestroyDescriptorPool(device_.handle(), p, nullptr);
}

void Executor::begin() {
  for (VkDescriptorPool p : descriptor_pools_) vkResetDescriptorPool(device_.handle(), p, 0);
  pool_index_ = 0;
  sets_in_pool_ = 0;
  cmd_ = stream_.begin();
  recording_ = true;
}

VkDescriptorSet Executor::allocate_set() {
  if (sets_in_pool_ == kSetsPerPool) {
    ++pool_index_;
    sets_in_pool_ = 0;
  }
  if (pool_index_ == descriptor_pools_.size()) {
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kBindings};
    VkDescriptorPoolCreateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    info.maxSets = kSetsPerPool;
    info.poolSizeCount = 1;
    info.pPoolSizes = &size;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    check(vkCreateDescriptorPool(device_.handle(), &info, nullptr, &pool),
          "vkCreateDescriptorPool");
    descriptor_pools_.push_back(pool);
  }
  VkDescriptorSetLayout layout = pipelines_.set_layout();
  VkDescriptorSetAllocateInfo alloc{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  alloc.descriptorPool = descriptor_pools_[pool_index_];
  alloc.descriptorSetCount = 1;
  alloc.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  check(vkAllocateDescriptorSets(device_.handle(), &alloc, &set), "vkAllocateDescriptorSets");
  ++sets_in_pool_;
  return set;
}

void Executor::dispatch(const std::string& shader, const Bindings& bindings, const Push& push,
                        uint64_t groups, uint32_t groups_y) {
  if (!recording_) throw Error("vulkan: dispatch outside a run");
  if (groups == 0 || groups_y == 0) return;
  VkPipeline pipeline = pipelines_.get(shader);
  VkDescriptorSet set = allocate_set();
  std::array<VkDescriptorBufferInfo, kBindings> infos{};
  std::array<VkWriteDescriptorSet, kBindings> writes{};
  for (uint32_t i = 0; i < kBindings; ++i) {
    infos[i] = {bindings[i == 4 ? 0 : i], 0, VK_WHOLE_SIZE};
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(device_.handle(), kBindings, writes.data(), 0, nullptr);
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipelines_.layout(), 0, 1, &set, 0,
                          nullptr);
  vkCmdPushConstants(cmd_, pipelines_.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes,
                     push.data());
  auto x = static_cast<uint32_t>(std::min(groups, kMaxGroupsX));
  auto z = static_cast<uint32_t>((groups + kMaxGroupsX - 1) / kMaxGroupsX);
  vkCmdDispatch(cmd_, x, groups_y, z);
  // Each node reads what the previous ones wrote.
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier, 0, nullptr, 0,
                       nullptr);
}

void Executor::finish() {
  if (!recording_) return;
  recording_ = false;
  stream_.submit_and_wait();
}

}  // namespace tern::vulkan
