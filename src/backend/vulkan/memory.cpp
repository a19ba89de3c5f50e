#include "backend/vulkan/memory.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "backend/vulkan/vk_check.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

constexpr uint64_t kSizeGranule = 16;

const char* role_name(MemoryRole role) {
  switch (role) {
    case MemoryRole::Weights:
      return "weights";
    case MemoryRole::Activations:
      return "activations";
    case MemoryRole::Staging:
      return "staging";
  }
  return "?";
}

// The first memory type allowed by `type_bits` that has all `required` flags, preferring one that
// also has the `preferred` flags.
bool find_memory_type(const VkPhysicalDeviceMemoryProperties& memory, uint32_t type_bits,
                      VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred,
                      uint32_t* index) {
  for (VkMemoryPropertyFlags wanted : {required | preferred, required}) {
    for (uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
      if ((type_bits & (1u << i)) && (memory.memoryTypes[i].propertyFlags & wanted) == wanted) {
        *index = i;
        return true;
      }
    }
  }
  return false;
}

}  // namespace

Buffer::Buffer(const Context& context, uint64_t bytes, MemoryRole role, std::string name)
    : device_(context.device()), role_(role), name_(std::move(name)) {
  if (bytes == 0) fail("Vulkan buffer '{}': size 0", name_);
  size_ = (bytes + kSizeGranule - 1) / kSizeGranule * kSizeGranule;
  VkBufferCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  info.size = size_;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  try {
    check(vkCreateBuffer(device_, &info, nullptr, &buffer_), "vkCreateBuffer");
    VkMemoryRequirements requirements{};
    vkGetBufferMemoryRequirements(device_, buffer_, &requirements);
    VkMemoryPropertyFlags required = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    VkMemoryPropertyFlags preferred = 0;
    if (role == MemoryRole::Staging) {
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;  // the host reads the logits back from it
    }
    uint32_t type = 0;
    if (!find_memory_type(context.memory_properties(), requirements.memoryTypeBits, required,
                          preferred, &type))
      fail("Vulkan buffer '{}': the device has no {} memory type", name_, role_name(role));
    VkMemoryAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    allocate.allocationSize = requirements.size;
    allocate.memoryTypeIndex = type;
    VkResult result = vkAllocateMemory(device_, &allocate, nullptr, &memory_);
    if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY)
      fail("Vulkan buffer '{}': out of memory allocating {} bytes of {} memory", name_, size_,
           role_name(role));
    check(result, "vkAllocateMemory");
    check(vkBindBufferMemory(device_, buffer_, memory_, 0), "vkBindBufferMemory");
    if (role == MemoryRole::Staging)
      check(vkMapMemory(device_, memory_, 0, VK_WHOLE_SIZE, 0, &mapped_), "vkMapMemory");
  } catch (...) {
    release();
    throw;
  }
}

Buffer::~Buffer() {
  release();
}

Buffer::Buffer(Buffer&& other) noexcept {
  *this = std::move(other);
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    device_ = std::exchange(other.device_, VK_NULL_HANDLE);
    buffer_ = std::exchange(other.buffer_, VK_NULL_HANDLE);
    memory_ = std::exchange(other.memory_, VK_NULL_HANDLE);
    mapped_ = std::exchange(other.mapped_, nullptr);
    size_ = std::exchange(other.size_, 0);
    role_ = other.role_;
    name_ = std::move(other.name_);
  }
  return *this;
}

void Buffer::release() {
  if (device_ == VK_NULL_HANDLE) return;
  if (buffer_ != VK_NULL_HANDLE) vkDestroyBuffer(device_, buffer_, nullptr);
  if (memory_ != VK_NULL_HANDLE) vkFreeMemory(device_, memory_, nullptr);  // unmaps too
  buffer_ = VK_NULL_HANDLE;
  memory_ = VK_NULL_HANDLE;
  mapped_ = nullptr;
}

Transfer::Transfer(const Context& context, uint64_t staging_bytes)
    : context_(context),
      staging_(context, staging_bytes, MemoryRole::Staging, "transfer staging"),
      commands_(context) {}

template <typename Record>
void Transfer::run(Record&& record) {
  VkCommandBufferBeginInfo begin{};
  begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(commands_.handle(), &begin), "vkBeginCommandBuffer");
  // Earlier work on the queue (kernels, earlier copies) may touch the same buffers.
  VkMemoryBarrier before{};
  before.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  before.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  before.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdPipelineBarrier(commands_.handle(),
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, nullptr, 0, nullptr);
  record(commands_.handle());
  // Makes the copies visible to later queue work and to the host.
  VkMemoryBarrier after{};
  after.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  after.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  after.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT |
                        VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                        VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdPipelineBarrier(commands_.handle(), VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                           VK_PIPELINE_STAGE_TRANSFER_BIT,
                       0, 1, &after, 0, nullptr, 0, nullptr);
  check(vkEndCommandBuffer(commands_.handle()), "vkEndCommandBuffer");
  commands_.submit();
  const VkFence fence = commands_.fence();
  check(vkWaitForFences(context_.device(), 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
  check(vkResetCommandBuffer(commands_.handle(), 0), "vkResetCommandBuffer");
}

void Transfer::upload(const Buffer& destination, uint64_t offset,
                      std::span<const std::byte> bytes) {
  if (offset > destination.size() || bytes.size() > destination.size() - offset)
    fail("upload of {} bytes at offset {} does not fit buffer '{}' ({} bytes)", bytes.size(),
         offset, destination.name(), destination.size());
  for (uint64_t done = 0; done < bytes.size();) {
    uint64_t piece = std::min<uint64_t>(bytes.size() - done, staging_.size());
    std::memcpy(staging_.mapped().data(), bytes.data() + done, piece);
    run([&](VkCommandBuffer commands) {
      VkBufferCopy copy{0, offset + done, piece};
      vkCmdCopyBuffer(commands, staging_.handle(), destination.handle(), 1, &copy);
    });
    done += piece;
  }
}

void Transfer::download(const Buffer& source, uint64_t offset, std::span<std::byte> bytes) {
  if (offset > source.size() || bytes.size() > source.size() - offset)
    fail("download of {} bytes at offset {} does not fit buffer '{}' ({} bytes)", bytes.size(),
         offset, source.name(), source.size());
  for (uint64_t done = 0; done < bytes.size();) {
    uint64_t piece = std::min<uint64_t>(bytes.size() - done, staging_.size());
    run([&](VkCommandBuffer commands) {
      VkBufferCopy copy{offset + done, 0, piece};
      vkCmdCopyBuffer(commands, source.handle(), staging_.handle(), 1, &copy);
    });
    std::memcpy(bytes.data() + done, staging_.mapped().data(), piece);
    done += piece;
  }
}

void Transfer::fill_zero(const Buffer& destination) {
  run([&](VkCommandBuffer commands) {
    vkCmdFillBuffer(commands, destination.handle(), 0, VK_WHOLE_SIZE, 0);
  });
}

}  // namespace quant::vulkan
