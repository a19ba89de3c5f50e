#pragma once
// The Vulkan instance, one physical device and its logical device with one compute queue. The
// runtime owns a Context and passes it down; everything made on the device (buffers, pipelines,
// command sequences) must be destroyed before it.

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/vulkan/device_info.h"

namespace quant::vulkan {

struct ContextOptions {
  // Which device of the enumeration (`quant devices` lists them).
  uint32_t device_index = 0;
  // Turns on the Khronos validation layer with synchronization validation and records every warning
  // and error it or the loader reports (validation_messages()). Slow: for tests and debugging.
  bool validation = false;
  // Enables VK_KHR_pipeline_executable_properties so that pipelines are created with their compiler
  // statistics captured (`quant devices --pipeline-statistics`). Off by default: capturing may cost
  // pipeline-creation time, and normal runs have no use for it.
  bool capture_pipeline_statistics = false;
};

// Whether the Khronos validation layer is installed (tests skip, saying so, when it is not).
bool validation_layer_available();

// Every device the loader finds, portability devices included. Empty when there is no Vulkan
// driver.
std::vector<DeviceInfo> list_devices();

class Context {
 public:
  // Throws quant::Error when there is no such device, it lacks Vulkan 1.2 or a compute queue, or
  // validation or pipeline statistics were asked for and the layer or the extension is missing.
  explicit Context(const ContextOptions& options);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const DeviceInfo& info() const { return info_; }
  VkPhysicalDevice physical_device() const { return physical_device_; }
  VkDevice device() const { return device_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  const VkPhysicalDeviceMemoryProperties& memory_properties() const { return memory_properties_; }
  // Whether pipelines should be created with VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR.
  bool captures_pipeline_statistics() const { return capture_pipeline_statistics_; }

  // Submits one command buffer to the compute queue, signalling `fence` when it completes.
  void submit(VkCommandBuffer commands, VkFence fence) const;

  bool validation_enabled() const { return message_log_ != nullptr; }
  // The validation and loader messages (warnings and errors) recorded so far; empty without
  // validation.
  std::vector<std::string> validation_messages() const;
  void clear_validation_messages();

  struct MessageLog;  // shared with the debug callback

 private:
  void release();  // destroys what was created, in reverse order

  std::unique_ptr<MessageLog> message_log_;  // outlives the instance: the callback writes into it
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkPhysicalDeviceMemoryProperties memory_properties_{};
  DeviceInfo info_;
  bool capture_pipeline_statistics_ = false;
};

}  // namespace quant::vulkan
