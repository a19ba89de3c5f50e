#include "backend/vulkan/fenced_command_buffer.h"

#include "backend/vulkan/vk_check.h"

namespace quant::vulkan {

FencedCommandBuffer::FencedCommandBuffer(const Context& context) : context_(context) {
  VkDevice device = context.device();
  VkCommandPoolCreateInfo pool{};
  pool.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool.queueFamilyIndex = context.queue_family();
  check(vkCreateCommandPool(device, &pool, nullptr, &pool_), "vkCreateCommandPool");
  VkCommandBufferAllocateInfo allocate{};
  allocate.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  allocate.commandPool = pool_;
  allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  allocate.commandBufferCount = 1;
  VkFenceCreateInfo fence{};
  fence.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  try {
    check(vkAllocateCommandBuffers(device, &allocate, &commands_), "vkAllocateCommandBuffers");
    check(vkCreateFence(device, &fence, nullptr, &fence_), "vkCreateFence");
  } catch (...) {
    vkDestroyCommandPool(device, pool_, nullptr);  // frees the command buffer too
    throw;
  }
}

FencedCommandBuffer::~FencedCommandBuffer() {
  vkDestroyFence(context_.device(), fence_, nullptr);
  vkDestroyCommandPool(context_.device(), pool_, nullptr);
}

void FencedCommandBuffer::submit() const {
  check(vkResetFences(context_.device(), 1, &fence_), "vkResetFences");
  context_.submit(commands_, fence_);
}

}  // namespace quant::vulkan
