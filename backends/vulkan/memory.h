// Memory: device buffers (tern::Buffer) and the transfers that fill and read them.
// Buffers prefer device-local memory; where that memory is also host-visible (unified
// memory, resizable BAR, lavapipe) they stay mapped and transfers are memcpy, otherwise
// data moves through a host-visible staging buffer and a copy command.
#pragma once

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "backends/backend.h"
#include "command_stream.h"
#include "device.h"

namespace tern::vulkan {

class Memory;

class DeviceBuffer final : public Buffer {
 public:
  DeviceBuffer(Memory& memory, size_t bytes, bool staging);
  ~DeviceBuffer() override;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  size_t size() const override { return bytes_; }
  /// Device memory: never a host address (see KvCache for how caches are named).
  void* host_data() override { return nullptr; }
  void upload(const void* src, size_t offset, size_t n) override;
  void download(void* dst, size_t offset, size_t n) const override;

  VkBuffer handle() const { return buffer_; }
  /// Unique among the process's buffers, unlike handle(): a new buffer may get a freed
  /// one's handle, which recorded command buffers must not mistake for the old buffer.
  uint64_t serial() const { return serial_; }
  /// The mapping when the memory is host-visible, else nullptr.
  void* mapped() const { return mapped_; }

 private:
  Memory& memory_;
  size_t bytes_;
  uint64_t serial_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory device_memory_ = VK_NULL_HANDLE;
  void* mapped_ = nullptr;
};

class Memory {
 public:
  explicit Memory(Device& device);
  ~Memory();
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;

  Device& device() { return device_; }
  /// A zero-filled device buffer; `staging`: host-visible (for transfers and per-run
  /// inputs) instead of device-local.
  std::unique_ptr<DeviceBuffer> allocate(size_t bytes, bool staging = false);

  /// Copies between host memory and a buffer that is not mapped, through staging.
  void copy_in(VkBuffer dst, size_t offset, const void* src, size_t n);
  void copy_out(VkBuffer src, size_t offset, void* dst, size_t n);
  void fill_zero(VkBuffer dst);

  /// Index of a memory type allowed by `bits` with `wanted` flags, or -1.
  int find_type(uint32_t bits, VkMemoryPropertyFlags wanted) const;

 private:
  // Records `record` into a one-shot command buffer, submits it and waits.
  template <typename Fn>
  void one_shot(Fn&& record);
  DeviceBuffer& staging(size_t bytes);

  Device& device_;
  CommandStream stream_;
  std::unique_ptr<DeviceBuffer> staging_;
};

}  // namespace tern::vulkan
