#pragma once
// A primary command buffer from a command pool of its own, with the fence its submissions signal:
// what a CommandSequence and a Transfer each record into, submit and wait on.

#include <vulkan/vulkan.h>

#include "backend/vulkan/context.h"

namespace quant::vulkan {

class FencedCommandBuffer {
 public:
  // Throws quant::Error when the device cannot create the pool, the buffer or the fence.
  explicit FencedCommandBuffer(const Context& context);
  ~FencedCommandBuffer();
  FencedCommandBuffer(const FencedCommandBuffer&) = delete;
  FencedCommandBuffer& operator=(const FencedCommandBuffer&) = delete;

  // Resettable (VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT).
  VkCommandBuffer handle() const { return commands_; }
  VkFence fence() const { return fence_; }

  // Resets the fence and submits the recorded commands; the fence signals when they complete.
  void submit() const;

 private:
  const Context& context_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer commands_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
};

}  // namespace quant::vulkan
