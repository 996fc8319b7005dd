#include "device.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>

#include "tern/error.h"

namespace tern::vulkan {

void check(VkResult result, std::string_view what) {
  if (result != VK_SUCCESS) throw Error(fmt::format("vulkan: {} failed ({})", what, int{result}));
}

namespace {

VkInstance create_instance() {
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "tern";
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  VkInstance instance = VK_NULL_HANDLE;
  if (vkCreateInstance(&info, nullptr, &instance) != VK_SUCCESS) return VK_NULL_HANDLE;
  return instance;
}

// One instance for the whole process, made on first use and never destroyed: the loader
// loads the driver library per instance, and NVIDIA's, once unloaded, fails to load again
// in the same process ("cannot allocate memory in static TLS block", seen on an H200 from
// the second Device on). VK_NULL_HANDLE when no loader or driver works.
VkInstance process_instance() {
  static const VkInstance instance = create_instance();
  return instance;
}

// The first queue family with compute, or -1.
int compute_family(VkPhysicalDevice device) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &n, families.data());
  for (uint32_t i = 0; i < n; ++i) {
    if ((families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) != 0) return static_cast<int>(i);
  }
  return -1;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance instance) {
  uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance, &n, nullptr);
  std::vector<VkPhysicalDevice> devices(n);
  vkEnumeratePhysicalDevices(instance, &n, devices.data());
  return devices;
}

PhysicalDeviceInfo describe(VkPhysicalDevice device, uint32_t index) {
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(device, &props);
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(device, &mem);
  PhysicalDeviceInfo info{index, props.deviceName, props.deviceType, 0};
  for (uint32_t h = 0; h < mem.memoryHeapCount; ++h) {
    if ((mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0) {
      info.device_local_bytes = std::max<uint64_t>(info.device_local_bytes, mem.memoryHeaps[h].size);
    }
  }
  return info;
}

bool usable(VkPhysicalDevice device) {
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(device, &props);
  return props.apiVersion >= VK_API_VERSION_1_1 && compute_family(device) >= 0;
}

int type_rank(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string_view(v) != "" && std::string_view(v) != "0";
}

}  // namespace

std::vector<PhysicalDeviceInfo> list_devices() {
  VkInstance instance = process_instance();
  if (instance == VK_NULL_HANDLE) return {};
  std::vector<PhysicalDeviceInfo> out;
  std::vector<VkPhysicalDevice> devices = physical_devices(instance);
  for (uint32_t i = 0; i < devices.size(); ++i) {
    if (usable(devices[i])) out.push_back(describe(devices[i], i));
  }
  return out;
}

PhysicalDeviceInfo choose_device(const std::vector<PhysicalDeviceInfo>& devices, int index) {
  if (devices.empty()) throw Error("vulkan: no Vulkan device with compute (is a driver installed?)");
  if (index >= 0) {
    for (const auto& d : devices) {
      if (static_cast<uint32_t>(index) == d.index) return d;
    }
    throw Error(fmt::format("vulkan: device {} is not one of the {} usable devices", index,
                            devices.size()));
  }
  return *std::min_element(devices.begin(), devices.end(), [](const auto& a, const auto& b) {
    return type_rank(a.type) < type_rank(b.type);
  });
}

Device::Device(int index) {
  info_ = choose_device(list_devices(), index);
  physical_ = physical_devices(process_instance()).at(info_.index);
  queue_family_ = static_cast<uint32_t>(compute_family(physical_));
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(physical_, &props);
  limits_ = props.limits;
  vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);

  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props2.pNext = &subgroup;
  vkGetPhysicalDeviceProperties2(physical_, &props2);
  VkPhysicalDevice16BitStorageFeatures storage16{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features.pNext = &storage16;
  vkGetPhysicalDeviceFeatures2(physical_, &features);
  const VkSubgroupFeatureFlags needed = VK_SUBGROUP_FEATURE_BASIC_BIT |
                                        VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  fast_ = !env_flag("TERN_VULKAN_BASIC") && storage16.storageBuffer16BitAccess == VK_TRUE &&
          (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0 &&
          (subgroup.supportedOperations & needed) == needed;

  // Enable only what the fast variant uses.
  VkPhysicalDevice16BitStorageFeatures enable16{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  enable16.storageBuffer16BitAccess = fast_ ? VK_TRUE : VK_FALSE;
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue.queueFamilyIndex = queue_family_;
  queue.queueCount = 1;
  queue.pQueuePriorities = &priority;
  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  info.pNext = &enable16;
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &queue;
  check(vkCreateDevice(physical_, &info, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
}

Device::~Device() { vkDestroyDevice(device_, nullptr); }

}  // namespace tern::vulkan
