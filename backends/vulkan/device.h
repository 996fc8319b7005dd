// Device: the chosen physical device of the process-wide Vulkan instance (a discrete GPU
// first, or the one asked for), its compute queue, and the features the shaders may use.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::vulkan {

/// Throws tern::Error naming `what` when `result` is not VK_SUCCESS.
void check(VkResult result, std::string_view what);

struct PhysicalDeviceInfo {
  uint32_t index = 0;  // in vkEnumeratePhysicalDevices order (ModelOptions::vulkan_device)
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint64_t device_local_bytes = 0;  // largest device-local heap
};

/// The usable devices (Vulkan >= 1.1 with a compute queue); empty without a driver.
std::vector<PhysicalDeviceInfo> list_devices();
/// The device a backend would use: `index` when >= 0 (an error when it is not a usable
/// device), else the first discrete, integrated, virtual, then CPU device. Throws
/// tern::Error when there is none.
PhysicalDeviceInfo choose_device(const std::vector<PhysicalDeviceInfo>& devices, int index);

class Device {
 public:
  /// On choose_device(list_devices(), index).
  explicit Device(int index);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice handle() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  const PhysicalDeviceInfo& info() const { return info_; }
  const VkPhysicalDeviceLimits& limits() const { return limits_; }
  const VkPhysicalDeviceMemoryProperties& memory() const { return memory_; }
  /// Subgroup arithmetic and 16-bit storage: the shaders' "fast" variant. Off when
  /// TERN_VULKAN_BASIC=1 (to test the fallback on any device).
  bool fast_shaders() const { return fast_; }

 private:
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  PhysicalDeviceInfo info_;
  VkPhysicalDeviceLimits limits_{};
  VkPhysicalDeviceMemoryProperties memory_{};
  bool fast_ = false;
};

}  // namespace tern::vulkan
