#pragma once
// Turning a failed Vulkan call into quant::Error.

#include <vulkan/vulkan.h>

namespace quant::vulkan {

// "VK_ERROR_OUT_OF_DEVICE_MEMORY", ...
const char* result_name(VkResult result);

// Throws quant::Error("Vulkan: <what> failed: <result>") unless result is VK_SUCCESS.
void check(VkResult result, const char* what);

}  // namespace quant::vulkan
