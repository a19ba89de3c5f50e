#include "backend/vulkan/device_info.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace quant::vulkan {

namespace {

const char* type_name(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "CPU";
    default:
      return "other";
  }
}

std::vector<VkQueueFamilyProperties> queue_families(VkPhysicalDevice device) {
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families.data());
  return families;
}

bool has_device_extension(VkPhysicalDevice device, const char* name) {
  uint32_t count = 0;
  vkEnumerateDeviceExtensionProperties(device, nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> extensions(count);
  vkEnumerateDeviceExtensionProperties(device, nullptr, &count, extensions.data());
  return std::any_of(extensions.begin(), extensions.end(), [&](const VkExtensionProperties& e) {
    return std::strcmp(e.extensionName, name) == 0;
  });
}

// Fills the integer dot product fields: the extension, its feature and the 4 x int8 packed
// signed acceleration property.
void query_integer_dot_product(VkPhysicalDevice device, DeviceInfo& info) {
  if (!has_device_extension(device, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME)) return;
  VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR feature{};
  feature.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR;
  VkPhysicalDeviceFeatures2 features{};
  features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  features.pNext = &feature;
  vkGetPhysicalDeviceFeatures2(device, &features);
  info.integer_dot_product = feature.shaderIntegerDotProduct == VK_TRUE;
  VkPhysicalDeviceShaderIntegerDotProductPropertiesKHR speed{};
  speed.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES_KHR;
  VkPhysicalDeviceProperties2 properties{};
  properties.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
  properties.pNext = &speed;
  vkGetPhysicalDeviceProperties2(device, &properties);
  info.integer_dot_product_accelerated =
      info.integer_dot_product && speed.integerDotProduct4x8BitPackedSignedAccelerated == VK_TRUE;
}

// Whether the device can report pipeline statistics: the extension and its feature.
bool query_pipeline_statistics(VkPhysicalDevice device) {
  if (!has_device_extension(device, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME))
    return false;
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR feature{};
  feature.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR;
  VkPhysicalDeviceFeatures2 features{};
  features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  features.pNext = &feature;
  vkGetPhysicalDeviceFeatures2(device, &features);
  return feature.pipelineExecutableInfo == VK_TRUE;
}

}  // namespace

bool find_compute_queue_family(VkPhysicalDevice device, uint32_t* family) {
  std::vector<VkQueueFamilyProperties> families = queue_families(device);
  for (uint32_t i = 0; i < families.size(); ++i) {
    if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      *family = i;
      return true;
    }
  }
  return false;
}

DeviceInfo query_device_info(VkPhysicalDevice device, uint32_t index) {
  VkPhysicalDeviceSubgroupProperties subgroup{};
  subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
  VkPhysicalDeviceDriverProperties driver{};
  driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
  VkPhysicalDeviceProperties2 properties{};
  properties.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
  properties.pNext = &subgroup;
  // Driver properties are core in 1.2; older devices do not fill them.
  VkPhysicalDeviceProperties basic{};
  vkGetPhysicalDeviceProperties(device, &basic);
  if (basic.apiVersion >= VK_API_VERSION_1_2) subgroup.pNext = &driver;
  vkGetPhysicalDeviceProperties2(device, &properties);
  const VkPhysicalDeviceLimits& limits = properties.properties.limits;

  DeviceInfo info;
  info.index = index;
  info.name = properties.properties.deviceName;
  info.type = type_name(properties.properties.deviceType);
  info.api_version = properties.properties.apiVersion;
  info.vendor_id = properties.properties.vendorID;
  info.device_id = properties.properties.deviceID;
  if (basic.apiVersion >= VK_API_VERSION_1_2) {
    info.driver = driver.driverName;
    if (std::strlen(driver.driverInfo) > 0) info.driver += fmt::format(" ({})", driver.driverInfo);
  } else {
    info.driver = fmt::format("driver version {:#x}", properties.properties.driverVersion);
  }

  info.subgroup_size = subgroup.subgroupSize;
  const VkSubgroupFeatureFlags needed =
      VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  info.subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                             (subgroup.supportedOperations & needed) == needed;
  query_integer_dot_product(device, info);
  info.pipeline_statistics = query_pipeline_statistics(device);
  info.max_storage_buffer_range = limits.maxStorageBufferRange;
  info.min_storage_buffer_offset_alignment = limits.minStorageBufferOffsetAlignment;
  info.max_compute_workgroup_invocations = limits.maxComputeWorkGroupInvocations;
  std::copy_n(limits.maxComputeWorkGroupSize, 3, info.max_compute_workgroup_size.begin());
  std::copy_n(limits.maxComputeWorkGroupCount, 3, info.max_compute_workgroup_count.begin());
  info.max_compute_shared_memory_bytes = limits.maxComputeSharedMemorySize;
  info.max_push_constants_bytes = limits.maxPushConstantsSize;

  VkPhysicalDeviceMemoryProperties memory{};
  vkGetPhysicalDeviceMemoryProperties(device, &memory);
  for (uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
    info.heaps.push_back({memory.memoryHeaps[i].size,
                          (memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0});
  }

  uint32_t family = 0;
  info.has_compute_queue = find_compute_queue_family(device, &family);
  info.timestamp_valid_bits =
      info.has_compute_queue ? queue_families(device)[family].timestampValidBits : 0;
  info.timestamps = info.timestamp_valid_bits > 0;
  info.timestamp_period_ns = limits.timestampPeriod;
  return info;
}

uint64_t DeviceInfo::device_local_bytes() const {
  uint64_t total = 0;
  for (const MemoryHeap& heap : heaps)
    if (heap.device_local) total += heap.bytes;
  return total;
}

std::string DeviceInfo::api_version_string() const {
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(api_version),
                     VK_API_VERSION_MINOR(api_version), VK_API_VERSION_PATCH(api_version));
}

}  // namespace quant::vulkan
