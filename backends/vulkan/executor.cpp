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

Program::~Program() {
  for (VkDescriptorPool p : descriptor_pools_) {
    vkDestroyDescriptorPool(device_.handle(), p, nullptr);
  }
}

Executor::Executor(Device& device, Pipelines& pipelines)
    : device_(device), pipelines_(pipelines), own_(device) {}

void Executor::begin(Program* program) {
  program_ = program != nullptr ? program : &own_;
  for (VkDescriptorPool p : program_->descriptor_pools_) {
    vkResetDescriptorPool(device_.handle(), p, 0);
  }
  program_->pool_index_ = 0;
  program_->sets_in_pool_ = 0;
  cmd_ = program_->stream_.begin();
  state_ = State::Recording;
}

VkDescriptorSet Executor::allocate_set() {
  Program& p = *program_;
  if (p.sets_in_pool_ == kSetsPerPool) {
    ++p.pool_index_;
    p.sets_in_pool_ = 0;
  }
  if (p.pool_index_ == p.descriptor_pools_.size()) {
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kBindings};
    VkDescriptorPoolCreateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    info.maxSets = kSetsPerPool;
    info.poolSizeCount = 1;
    info.pPoolSizes = &size;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    check(vkCreateDescriptorPool(device_.handle(), &info, nullptr, &pool),
          "vkCreateDescriptorPool");
    p.descriptor_pools_.push_back(pool);
  }
  VkDescriptorSetLayout layout = pipelines_.set_layout();
  VkDescriptorSetAllocateInfo alloc{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  alloc.descriptorPool = p.descriptor_pools_[p.pool_index_];
  alloc.descriptorSetCount = 1;
  alloc.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  check(vkAllocateDescriptorSets(device_.handle(), &alloc, &set), "vkAllocateDescriptorSets");
  ++p.sets_in_pool_;
  return set;
}

void Executor::dispatch(const std::string& shader, const Bindings& bindings, const Push& push,
                        uint64_t groups, uint32_t groups_y) {
  if (state_ == State::Idle) throw Error("vulkan: dispatch outside a run");
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
  State was = state_;
  state_ = State::Idle;
  if (was != State::Recording) return;
  program_->stream_.end();
  program_->stream_.submit_and_wait();
}

void Executor::replay(Program& program) { program.stream_.submit_and_wait(); }

}  // namespace tern::vulkan
