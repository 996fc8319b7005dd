#include "memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "tern/error.h"

namespace tern::vulkan {

namespace {

constexpr size_t kStagingChunk = size_t{64} << 20;  // bytes moved per staging round trip

std::atomic<uint64_t> next_serial{1};

}  // namespace

DeviceBuffer::DeviceBuffer(Memory& memory, size_t bytes, bool staging)
    : memory_(memory), bytes_(bytes), serial_(next_serial++) {
  VkDevice dev = memory.device().handle();
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = std::max<size_t>(bytes, 16);  // Vulkan has no empty buffers
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  check(vkCreateBuffer(dev, &info, nullptr, &buffer_), "vkCreateBuffer");
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, buffer_, &req);
  const VkMemoryPropertyFlags host =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int type = staging
                 ? memory.find_type(req.memoryTypeBits, host)
                 : memory.find_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | host);
  if (type < 0 && !staging) {
    type = memory.find_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  }
  if (type < 0) type = memory.find_type(req.memoryTypeBits, 0);
  VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  alloc.allocationSize = req.size;
  alloc.memoryTypeIndex = static_cast<uint32_t>(type);
  VkResult r = vkAllocateMemory(dev, &alloc, nullptr, &device_memory_);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(dev, buffer_, nullptr);
    throw Error(fmt::format("vulkan: cannot allocate {:.1f} MiB of device memory ({})",
                            static_cast<double>(bytes) / (1 << 20), int{r}));
  }
  check(vkBindBufferMemory(dev, buffer_, device_memory_, 0), "vkBindBufferMemory");
  auto flags = memory.device().memory().memoryTypes[type].propertyFlags;
  if ((flags & host) == host) {
    check(vkMapMemory(dev, device_memory_, 0, VK_WHOLE_SIZE, 0, &mapped_), "vkMapMemory");
    std::memset(mapped_, 0, bytes_);
  } else {
    memory.fill_zero(buffer_);
  }
}

DeviceBuffer::~DeviceBuffer() {
  VkDevice dev = memory_.device().handle();
  vkDestroyBuffer(dev, buffer_, nullptr);
  vkFreeMemory(dev, device_memory_, nullptr);
}

void DeviceBuffer::upload(const void* src, size_t offset, size_t n) {
  if (offset + n > bytes_) throw Error("vulkan: upload past the end of a buffer");
  if (mapped_ != nullptr) {
    std::memcpy(static_cast<uint8_t*>(mapped_) + offset, src, n);
  } else {
    memory_.copy_in(buffer_, offset, src, n);
  }
}

void DeviceBuffer::download(void* dst, size_t offset, size_t n) const {
  if (offset + n > bytes_) throw Error("vulkan: download past the end of a buffer");
  if (mapped_ != nullptr) {
    std::memcpy(dst, static_cast<const uint8_t*>(mapped_) + offset, n);
  } else {
    memory_.copy_out(buffer_, offset, dst, n);
  }
}

Memory::Memory(Device& device) : device_(device), stream_(device) {}

Memory::~Memory() { staging_.reset(); }

std::unique_ptr<DeviceBuffer> Memory::allocate(size_t bytes, bool staging) {
  return std::make_unique<DeviceBuffer>(*this, bytes, staging);
}

int Memory::find_type(uint32_t bits, VkMemoryPropertyFlags wanted) const {
  const auto& mem = device_.memory();
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i) {
    if ((bits & (1u << i)) != 0 && (mem.memoryTypes[i].propertyFlags & wanted) == wanted) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

template <typename Fn>
void Memory::one_shot(Fn&& record) {
  record(stream_.begin());
  stream_.end();
  stream_.submit_and_wait();
}

DeviceBuffer& Memory::staging(size_t bytes) {
  if (!staging_ || staging_->size() < bytes) staging_ = allocate(bytes, true);
  return *staging_;
}

void Memory::copy_in(VkBuffer dst, size_t offset, const void* src, size_t n) {
  for (size_t done = 0; done < n; done += kStagingChunk) {
    size_t len = std::min(kStagingChunk, n - done);
    DeviceBuffer& s = staging(std::min(kStagingChunk, n));
    std::memcpy(s.mapped(), static_cast<const uint8_t*>(src) + done, len);
    one_shot([&](VkCommandBuffer cmd) {
      VkBufferCopy region{0, offset + done, len};
      vkCmdCopyBuffer(cmd, s.handle(), dst, 1, &region);
    });
  }
}

void Memory::copy_out(VkBuffer src, size_t offset, void* dst, size_t n) {
  for (size_t done = 0; done < n; done += kStagingChunk) {
    size_t len = std::min(kStagingChunk, n - done);
    DeviceBuffer& s = staging(std::min(kStagingChunk, n));
    one_shot([&](VkCommandBuffer cmd) {
      VkBufferCopy region{offset + done, 0, len};
      vkCmdCopyBuffer(cmd, src, s.handle(), 1, &region);
    });
    std::memcpy(static_cast<uint8_t*>(dst) + done, s.mapped(), len);
  }
}

void Memory::fill_zero(VkBuffer dst) {
  one_shot([&](VkCommandBuffer cmd) { vkCmdFillBuffer(cmd, dst, 0, VK_WHOLE_SIZE, 0); });
}

}  // namespace tern::vulkan
