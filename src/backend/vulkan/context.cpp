#include "backend/vulkan/context.h"

#include <fmt/format.h>

#include <cstring>
#include <mutex>
#include <string_view>

#include "backend/vulkan/vk_check.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool has_extension(const std::vector<VkExtensionProperties>& extensions, std::string_view name) {
  for (const VkExtensionProperties& extension : extensions)
    if (name == extension.extensionName) return true;
  return false;
}

std::vector<VkExtensionProperties> instance_extensions(const char* layer) {
  uint32_t count = 0;
  check(vkEnumerateInstanceExtensionProperties(layer, &count, nullptr),
        "vkEnumerateInstanceExtensionProperties");
  std::vector<VkExtensionProperties> extensions(count);
  check(vkEnumerateInstanceExtensionProperties(layer, &count, extensions.data()),
        "vkEnumerateInstanceExtensionProperties");
  extensions.resize(count);
  return extensions;
}

std::vector<VkExtensionProperties> device_extensions(VkPhysicalDevice device) {
  uint32_t count = 0;
  check(vkEnumerateDeviceExtensionProperties(device, nullptr, &count, nullptr),
        "vkEnumerateDeviceExtensionProperties");
  std::vector<VkExtensionProperties> extensions(count);
  check(vkEnumerateDeviceExtensionProperties(device, nullptr, &count, extensions.data()),
        "vkEnumerateDeviceExtensionProperties");
  extensions.resize(count);
  return extensions;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance instance) {
  uint32_t count = 0;
  check(vkEnumeratePhysicalDevices(instance, &count, nullptr), "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> devices(count);
  check(vkEnumeratePhysicalDevices(instance, &count, devices.data()), "vkEnumeratePhysicalDevices");
  devices.resize(count);
  return devices;
}

VKAPI_ATTR VkBool32 VKAPI_CALL record_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT,
                                              const VkDebugUtilsMessengerCallbackDataEXT* data,
                                              void* user_data);

VkDebugUtilsMessengerCreateInfoEXT messenger_info(Context::MessageLog* log) {
  VkDebugUtilsMessengerCreateInfoEXT info{};
  info.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
  info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  info.pfnUserCallback = record_message;
  info.pUserData = log;
  return info;
}

// Creates the instance; with `log`, the validation layer, synchronization validation and a debug
// messenger chained in (so that messages from instance creation are recorded too). Returns the
// VkResult of vkCreateInstance so that callers can tell "no driver" from other failures.
VkResult create_instance(Context::MessageLog* log, VkInstance* instance) {
  std::vector<VkExtensionProperties> available = instance_extensions(nullptr);
  std::vector<const char*> extensions;
  VkInstanceCreateFlags flags = 0;
  // Lists portability devices (MoltenVK) too, where the loader offers them.
  if (has_extension(available, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }
  std::vector<const char*> layers;
  VkValidationFeatureEnableEXT enabled_features[] = {
      VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT validation_features{};
  VkDebugUtilsMessengerCreateInfoEXT messenger{};
  const void* next = nullptr;
  if (log != nullptr) {
    layers.push_back(kValidationLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
    messenger = messenger_info(log);
    validation_features.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT;
    validation_features.enabledValidationFeatureCount = 1;
    validation_features.pEnabledValidationFeatures = enabled_features;
    validation_features.pNext = &messenger;
    next = &validation_features;
  }

  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "quant";
  app.pEngineName = "quant";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  info.pNext = next;
  info.flags = flags;
  info.pApplicationInfo = &app;
  info.enabledLayerCount = static_cast<uint32_t>(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  return vkCreateInstance(&info, nullptr, instance);
}

}  // namespace

struct Context::MessageLog {
  mutable std::mutex mutex;
  std::vector<std::string> messages;
};

namespace {

VKAPI_ATTR VkBool32 VKAPI_CALL record_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT,
                                              const VkDebugUtilsMessengerCallbackDataEXT* data,
                                              void* user_data) {
  auto* log = static_cast<Context::MessageLog*>(user_data);
  const char* level =
      (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning";
  std::string text = fmt::format("{}: {}", level, data->pMessage ? data->pMessage : "(no message)");
  std::lock_guard<std::mutex> lock(log->mutex);
  log->messages.push_back(std::move(text));
  return VK_FALSE;  // never abort the call that triggered the message
}

}  // namespace

bool validation_layer_available() {
  uint32_t count = 0;
  if (vkEnumerateInstanceLayerProperties(&count, nullptr) != VK_SUCCESS) return false;
  std::vector<VkLayerProperties> layers(count);
  if (vkEnumerateInstanceLayerProperties(&count, layers.data()) != VK_SUCCESS) return false;
  for (uint32_t i = 0; i < count; ++i)
    if (std::string_view(layers[i].layerName) == kValidationLayer) return true;
  return false;
}

std::vector<DeviceInfo> list_devices() {
  VkInstance instance = VK_NULL_HANDLE;
  VkResult result = create_instance(nullptr, &instance);
  if (result == VK_ERROR_INCOMPATIBLE_DRIVER) return {};  // the loader found no driver
  check(result, "vkCreateInstance");
  std::vector<DeviceInfo> infos;
  try {
    std::vector<VkPhysicalDevice> devices = physical_devices(instance);
    for (uint32_t i = 0; i < devices.size(); ++i) infos.push_back(query_device_info(devices[i], i));
  } catch (...) {
    vkDestroyInstance(instance, nullptr);
    throw;
  }
  vkDestroyInstance(instance, nullptr);
  return infos;
}

Context::Context(const ContextOptions& options) {
  if (options.validation) {
    if (!validation_layer_available())
      fail("Vulkan validation was asked for but {} is not installed", kValidationLayer);
    message_log_ = std::make_unique<MessageLog>();
  }
  VkResult result = create_instance(message_log_.get(), &instance_);
  if (result == VK_ERROR_INCOMPATIBLE_DRIVER) fail("no Vulkan driver found");
  check(result, "vkCreateInstance");
  // From here on, the destructor cleans up whatever a later failure leaves.
  try {
    if (message_log_) {
      auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
      if (create == nullptr) fail("Vulkan: vkCreateDebugUtilsMessengerEXT is missing");
      VkDebugUtilsMessengerCreateInfoEXT info = messenger_info(message_log_.get());
      check(create(instance_, &info, nullptr, &messenger_), "vkCreateDebugUtilsMessengerEXT");
    }

    std::vector<VkPhysicalDevice> devices = physical_devices(instance_);
    if (devices.empty()) fail("no Vulkan device found");
    if (options.device_index >= devices.size())
      fail("Vulkan device {} does not exist ({} found; `quant devices` lists them)",
           options.device_index, devices.size());
    physical_device_ = devices[options.device_index];
    info_ = query_device_info(physical_device_, options.device_index);
    if (info_.api_version < VK_API_VERSION_1_2)
      fail("Vulkan device {} ({}) supports Vulkan {}; 1.2 is needed", info_.index, info_.name,
           info_.api_version_string());
    if (!find_compute_queue_family(physical_device_, &queue_family_))
      fail("Vulkan device {} ({}) has no compute queue", info_.index, info_.name);
    vkGetPhysicalDeviceMemoryProperties(physical_device_, &memory_properties_);

    std::vector<const char*> extensions;
    // A portability implementation (MoltenVK) must be told that we know it is one.
    if (has_extension(device_extensions(physical_device_), "VK_KHR_portability_subset"))
      extensions.push_back("VK_KHR_portability_subset");
    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue{};
    queue.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    queue.queueFamilyIndex = queue_family_;
    queue.queueCount = 1;
    queue.pQueuePriorities = &priority;
    void* features = nullptr;  // the chain of feature structures to enable
    // OpSDot for the int8 mat-vec kernels (matvec_int8.comp), where the device has it.
    VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR integer_dot_product{};
    integer_dot_product.sType =
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR;
    integer_dot_product.shaderIntegerDotProduct = VK_TRUE;
    if (info_.integer_dot_product) {
      extensions.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
      integer_dot_product.pNext = features;
      features = &integer_dot_product;
    }
    // Per-pipeline compiler statistics, only when asked for.
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR executable_properties{};
    executable_properties.sType =
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR;
    executable_properties.pipelineExecutableInfo = VK_TRUE;
    if (options.capture_pipeline_statistics) {
      if (!info_.pipeline_statistics)
        fail("Vulkan device {} ({}) cannot report pipeline statistics (no {})", info_.index,
             info_.name, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
      extensions.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
      executable_properties.pNext = features;
      features = &executable_properties;
      capture_pipeline_statistics_ = true;
    }
    VkDeviceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    info.pNext = features;
    info.queueCreateInfoCount = 1;
    info.pQueueCreateInfos = &queue;
    info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
    info.ppEnabledExtensionNames = extensions.data();
    check(vkCreateDevice(physical_device_, &info, nullptr, &device_), "vkCreateDevice");
    vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
  } catch (...) {
    release();
    throw;
  }
}

Context::~Context() {
  release();
}

void Context::release() {
  if (device_ != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(device_);
    vkDestroyDevice(device_, nullptr);
    device_ = VK_NULL_HANDLE;
  }
  if (messenger_ != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy != nullptr) destroy(instance_, messenger_, nullptr);
    messenger_ = VK_NULL_HANDLE;
  }
  if (instance_ != VK_NULL_HANDLE) {
    vkDestroyInstance(instance_, nullptr);
    instance_ = VK_NULL_HANDLE;
  }
}

void Context::submit(VkCommandBuffer commands, VkFence fence) const {
  VkSubmitInfo info{};
  info.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  info.commandBufferCount = 1;
  info.pCommandBuffers = &commands;
  check(vkQueueSubmit(queue_, 1, &info, fence), "vkQueueSubmit");
}

std::vector<std::string> Context::validation_messages() const {
  if (!message_log_) return {};
  std::lock_guard<std::mutex> lock(message_log_->mutex);
  return message_log_->messages;
}

void Context::clear_validation_messages() {
  if (!message_log_) return;
  std::lock_guard<std::mutex> lock(message_log_->mutex);
  message_log_->messages.clear();
}

}  // namespace quant::vulkan
