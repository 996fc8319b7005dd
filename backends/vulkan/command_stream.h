// CommandStream: one primary command buffer with its pool and fence, recorded, then
// submitted and waited for as often as needed. Memory (transfers) owns one, and each
// of the executor's programs.
#pragma once

#include <vulkan/vulkan.h>

#include "device.h"

namespace tern::vulkan {

/// Makes every earlier write (any stage, earlier submissions included) visible to every
/// later access: recorded at the start and end of each command buffer.
void full_barrier(VkCommandBuffer cmd);

class CommandStream {
 public:
  explicit CommandStream(Device& device);
  ~CommandStream();
  CommandStream(const CommandStream&) = delete;
  CommandStream& operator=(const CommandStream&) = delete;

  /// Starts recording anew (the previous submission has completed) behind a full barrier,
  /// so earlier submissions' and host writes are visible; returns the buffer to record into.
  VkCommandBuffer begin();
  /// Ends the recording with a full barrier (for the host and later submissions).
  void end();
  /// Submits the recorded buffer and waits for it.
  void submit_and_wait();

 private:
  Device& device_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
};

}  // namespace tern::vulkan
