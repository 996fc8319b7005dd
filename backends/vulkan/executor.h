// Executor: records a Backend::run into one command buffer: for every node a descriptor
// set (whole buffers; element offsets travel in push constants), push constants, a
// dispatch and a compute-to-compute barrier; then one submit and one wait. A Program
// keeps such a recording (command buffer and descriptor sets) to submit it again.
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

/// A recorded command buffer with the descriptor sets it binds: valid to submit again
/// while every buffer it names lives.
class Program {
 public:
  explicit Program(Device& device) : device_(device), stream_(device) {}
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

 private:
  friend class Executor;
  Device& device_;
  CommandStream stream_;
  std::vector<VkDescriptorPool> descriptor_pools_;  // kept, reset when re-recorded
  size_t pool_index_ = 0;                           // the pool sets come from now
  uint32_t sets_in_pool_ = 0;
};

class Executor {
 public:
  Executor(Device& device, Pipelines& pipelines);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// Starts recording into `program` (null: the executor's own, recorded anew every
  /// run); the previous run has completed.
  void begin(Program* program = nullptr);
  /// Dispatches `groups` workgroups (split over x and z past the 65535 limit) times
  /// `groups_y` of `shader` over `bindings`.
  void dispatch(const std::string& shader, const Bindings& bindings, const Push& push,
                uint64_t groups, uint32_t groups_y = 1);
  /// Ends the pass: submits what was recorded and waits for it.
  void finish();
  /// Submits `program` as last recorded and waits for it.
  void replay(Program& program);

 private:
  enum class State { Idle, Recording };
  VkDescriptorSet allocate_set();

  Device& device_;
  Pipelines& pipelines_;
  Program own_;
  Program* program_ = nullptr;               // being recorded
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;     // its command buffer
  State state_ = State::Idle;
};

}  // namespace tern::vulkan
