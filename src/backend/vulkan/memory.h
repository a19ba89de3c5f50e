#pragma once
// Device buffers in three roles, and moving bytes between them and the host.
//   Weights      device-local, written once through the staging buffer, then only read.
//   Activations  device-local: activations, KV caches, scratch. Sized once, reused every token.
//   Staging      host-visible and coherent: uploads, the per-token inputs and the logits read back.
// Each buffer has its own allocation (a model has a few hundred tensors, far below any device's
// allocation limit). Sizes are rounded up to 16 bytes so shaders may read whole 32-bit words.

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "backend/vulkan/context.h"
#include "backend/vulkan/fenced_command_buffer.h"

namespace quant::vulkan {

enum class MemoryRole { Weights, Activations, Staging };

class Buffer {
 public:
  Buffer() = default;
  // Throws quant::Error naming the buffer when the device has no memory for it.
  Buffer(const Context& context, uint64_t bytes, MemoryRole role, std::string name);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  uint64_t size() const { return size_; }  // bytes, rounded up to 16
  MemoryRole role() const { return role_; }
  const std::string& name() const { return name_; }
  // The mapped bytes of a Staging buffer (empty for other roles).
  std::span<uint8_t> mapped() const {
    return {static_cast<uint8_t*>(mapped_), mapped_ ? size_ : 0};
  }

 private:
  void release();

  VkDevice device_ = VK_NULL_HANDLE;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  void* mapped_ = nullptr;
  uint64_t size_ = 0;
  MemoryRole role_ = MemoryRole::Activations;
  std::string name_;
};

// A byte range of a buffer, as kernels bind it.
struct BufferRange {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0;
};

inline BufferRange whole(const Buffer& buffer) {
  return {&buffer, 0, buffer.size()};
}

// Copies between host memory and device buffers through one staging buffer, in pieces of at most
// its size; each call waits until its copies are done.
class Transfer {
 public:
  explicit Transfer(const Context& context, uint64_t staging_bytes = 64ull << 20);
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  void upload(const Buffer& destination, uint64_t offset, std::span<const std::byte> bytes);
  void download(const Buffer& source, uint64_t offset, std::span<std::byte> bytes);
  void fill_zero(const Buffer& destination);

  const Context& context() const { return context_; }

 private:
  // Records `record` into the transfer command buffer, submits it and waits.
  template <typename Record>
  void run(Record&& record);

  const Context& context_;
  Buffer staging_;
  FencedCommandBuffer commands_;
};

}  // namespace quant::vulkan
