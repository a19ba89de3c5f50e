#pragma once
// What the backend needs to know about a physical device, read once when it is enumerated.

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace quant::vulkan {

struct MemoryHeap {
  uint64_t bytes = 0;
  bool device_local = false;
};

struct DeviceInfo {
  uint32_t index = 0;        // position in the instance's enumeration (what ContextOptions selects)
  std::string name;          // "NVIDIA H200", "llvmpipe (LLVM 15.0.6, 256 bits)"
  std::string type;          // "discrete GPU", "integrated GPU", "virtual GPU", "CPU", "other"
  uint32_t api_version = 0;  // VK_MAKE_API_VERSION form
  std::string driver;        // driver name and version info, as the driver reports them
  uint32_t vendor_id = 0;
  uint32_t device_id = 0;

  uint32_t subgroup_size = 0;
  bool subgroup_arithmetic =
      false;  // compute shaders may use subgroupAdd/Max (basic + arithmetic ops)
  // VK_KHR_shader_integer_dot_product with its feature (OpSDot in shaders; the context enables it),
  // and whether the driver says packed 4 x int8 dot products are faster than their expansion.
  bool integer_dot_product = false;
  bool integer_dot_product_accelerated = false;
  // VK_KHR_pipeline_executable_properties with its pipelineExecutableInfo feature: the driver can
  // report per-pipeline compiler statistics (registers, shared memory, spills on NVIDIA).
  bool pipeline_statistics = false;
  uint64_t max_storage_buffer_range = 0;
  uint64_t min_storage_buffer_offset_alignment = 0;
  uint32_t max_compute_workgroup_invocations = 0;
  std::array<uint32_t, 3> max_compute_workgroup_size{};
  std::array<uint32_t, 3> max_compute_workgroup_count{};
  uint32_t max_compute_shared_memory_bytes = 0;
  uint32_t max_push_constants_bytes = 0;
  std::vector<MemoryHeap> heaps;

  bool timestamps = false;            // a compute queue family can write timestamps
  float timestamp_period_ns = 0.0f;   // nanoseconds per timestamp tick
  uint32_t timestamp_valid_bits = 0;  // meaningful low bits of a compute-queue timestamp

  // Whether a compute queue family exists (the backend needs one).
  bool has_compute_queue = false;

  uint64_t device_local_bytes() const;
  std::string api_version_string() const;  // "1.3.230"
};

DeviceInfo query_device_info(VkPhysicalDevice device, uint32_t index);

// The first queue family with compute, if any.
bool find_compute_queue_family(VkPhysicalDevice device, uint32_t* family);

}  // namespace quant::vulkan
