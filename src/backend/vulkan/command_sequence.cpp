#include "backend/vulkan/command_sequence.h"

#include <algorithm>
#include <thread>

#include "backend/vulkan/vk_check.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

constexpr uint32_t kSetsPerPool = 128;
constexpr uint32_t kDescriptorsPerSet = 6;  // pools are reused, so a generous average costs little
constexpr VkPipelineStageFlags kWorkStages =
    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kWrites = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
constexpr VkAccessFlags kReadsAndWrites = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                          VK_ACCESS_TRANSFER_READ_BIT |
                                          VK_ACCESS_TRANSFER_WRITE_BIT;

}  // namespace

CommandSequence::CommandSequence(Pipelines& pipelines, Timestamps timestamps, uint32_t max_commands)
    : pipelines_(pipelines), commands_(pipelines.context()) {
  if (timestamps != Timestamps::None && context().info().timestamps) {
    timestamps_ = timestamps;
    query_capacity_ = timestamps == Timestamps::Bracket ? 2 : max_commands + 1;
    VkQueryPoolCreateInfo queries{};
    queries.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
    queries.queryType = VK_QUERY_TYPE_TIMESTAMP;
    queries.queryCount = query_capacity_;
    check(vkCreateQueryPool(context().device(), &queries, nullptr, &query_pool_),
          "vkCreateQueryPool");
  }
}

CommandSequence::~CommandSequence() {
  VkDevice device = context().device();
  // Nothing the device may still be executing is destroyed.
  if (pending_) {
    VkFence fence = commands_.fence();
    vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX);
  }
  for (VkDescriptorPool pool : descriptor_pools_) vkDestroyDescriptorPool(device, pool, nullptr);
  if (query_pool_ != VK_NULL_HANDLE) vkDestroyQueryPool(device, query_pool_, nullptr);
}

void CommandSequence::begin() {
  if (pending_) fail("Vulkan: recording into a sequence whose last submission is still pending");
  VkDevice device = context().device();
  check(vkResetCommandBuffer(commands_.handle(), 0), "vkResetCommandBuffer");
  for (uint32_t i = 0; i < pools_used_; ++i)
    check(vkResetDescriptorPool(device, descriptor_pools_[i], 0), "vkResetDescriptorPool");
  pools_used_ = 0;
  since_barrier_.clear();
  dispatches_ = 0;
  barriers_ = 0;
  commands_info_.clear();
  label_.clear();
  label_layer_ = -1;
  last_timestamps_.clear();
  VkCommandBufferBeginInfo info{};
  info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  check(vkBeginCommandBuffer(commands_.handle(), &info), "vkBeginCommandBuffer");
  recording_ = true;
  recorded_ = false;
  queries_written_ = 0;
  if (timestamps()) {
    vkCmdResetQueryPool(commands_.handle(), query_pool_, 0, query_capacity_);
    write_timestamp();
  }
  // The previous submission (of this or another sequence) may have written what this one reads.
  barrier();
}

GroupCount CommandSequence::linear_groups(uint64_t workgroups) const {
  const auto& max_count = context().info().max_compute_workgroup_count;
  if (workgroups <= max_count[0])
    return {static_cast<uint32_t>(std::max<uint64_t>(workgroups, 1)), 1, 1};
  uint64_t rows = (workgroups + max_count[0] - 1) / max_count[0];
  if (rows > max_count[1]) fail("Vulkan: {} workgroups exceed the device's grid", workgroups);
  uint64_t columns = (workgroups + rows - 1) / rows;
  return {static_cast<uint32_t>(columns), static_cast<uint32_t>(rows), 1};
}

void CommandSequence::check_bindings(const Pipeline& pipeline,
                                     std::span<const BufferRange> bindings) const {
  const PipelineRecord& record = *pipeline.record;
  const DeviceInfo& info = context().info();
  if (bindings.size() != record.bindings)
    fail("Vulkan kernel '{}': {} bindings given, the shader has {}", record.name, bindings.size(),
         record.bindings);
  for (size_t i = 0; i < bindings.size(); ++i) {
    const BufferRange& range = bindings[i];
    if (range.buffer == nullptr || range.size == 0)
      fail("Vulkan kernel '{}': binding {} is empty", record.name, i);
    if (range.offset > range.buffer->size() || range.size > range.buffer->size() - range.offset)
      fail(
          "Vulkan kernel '{}': binding {} ({} bytes at {}) passes the end of buffer '{}' ({} "
          "bytes)",
          record.name, i, range.size, range.offset, range.buffer->name(), range.buffer->size());
    if (range.offset % info.min_storage_buffer_offset_alignment != 0)
      fail("Vulkan kernel '{}': binding {} offset {} is not a multiple of {}", record.name, i,
           range.offset, info.min_storage_buffer_offset_alignment);
    if (range.size > pipelines_.max_binding_bytes())
      fail("Vulkan kernel '{}': binding {} covers {} bytes of '{}'; one binding may cover {}",
           record.name, i, range.size, range.buffer->name(), pipelines_.max_binding_bytes());
  }
}

void CommandSequence::dispatch_bytes(std::string_view name, std::span<const BufferRange> bindings,
                                     const void* push, uint32_t push_bytes, GroupCount groups) {
  if (!recording_) fail("Vulkan: dispatch of '{}' outside begin()/end()", name);
  const Pipeline& pipeline = pipelines_.get(name);
  const PipelineRecord& record = *pipeline.record;
  check_bindings(pipeline, bindings);
  if (push_bytes != record.push_constant_bytes)
    fail("Vulkan kernel '{}': {} bytes of push constants given, the shader takes {}", name,
         push_bytes, record.push_constant_bytes);
  const auto& max_count = context().info().max_compute_workgroup_count;
  if (groups.x == 0 || groups.y == 0 || groups.z == 0 || groups.x > max_count[0] ||
      groups.y > max_count[1] || groups.z > max_count[2])
    fail("Vulkan kernel '{}': {}x{}x{} workgroups; the device allows {}x{}x{}", name, groups.x,
         groups.y, groups.z, max_count[0], max_count[1], max_count[2]);

  std::vector<Access> accesses;
  std::vector<VkDescriptorBufferInfo> buffers(bindings.size());
  for (size_t i = 0; i < bindings.size(); ++i) {
    const BufferRange& range = bindings[i];
    bool write = (record.written_bindings >> i) & 1u;
    accesses.push_back({range.buffer->handle(), range.offset, range.offset + range.size, write});
    buffers[i] = {range.buffer->handle(), range.offset, range.size};
  }
  order(accesses);

  VkDescriptorSet set = allocate_set(pipeline.set_layout);
  std::vector<VkWriteDescriptorSet> writes(bindings.size());
  for (size_t i = 0; i < bindings.size(); ++i) {
    writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    writes[i].dstSet = set;
    writes[i].dstBinding = static_cast<uint32_t>(i);
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &buffers[i];
  }
  vkUpdateDescriptorSets(context().device(), static_cast<uint32_t>(writes.size()), writes.data(), 0,
                         nullptr);
  vkCmdBindPipeline(commands_.handle(), VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline);
  vkCmdBindDescriptorSets(commands_.handle(), VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, 1,
                          &set, 0, nullptr);
  if (push_bytes > 0)
    vkCmdPushConstants(commands_.handle(), pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                       push_bytes, push);
  vkCmdDispatch(commands_.handle(), groups.x, groups.y, groups.z);
  ++dispatches_;
  uint64_t bytes = 0;
  for (const BufferRange& range : bindings) bytes += range.size;
  finish_command(std::string(name), bytes);
}

void CommandSequence::set_label(std::string label, int32_t layer) {
  label_ = std::move(label);
  label_layer_ = layer;
}

void CommandSequence::finish_command(std::string kernel, uint64_t bytes) {
  commands_info_.push_back({std::move(kernel), label_, label_layer_, bytes});
  if (timestamps_ == Timestamps::EveryCommand) write_timestamp();
}

void CommandSequence::write_timestamp() {
  if (queries_written_ >= query_capacity_)
    fail("Vulkan: more timestamps than the {} this sequence was made for", query_capacity_);
  // Bottom of pipe: written once every earlier command has finished.
  vkCmdWriteTimestamp(commands_.handle(), VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, query_pool_,
                      queries_written_++);
}

void CommandSequence::copy(const Buffer& source, uint64_t source_offset, const Buffer& destination,
                           uint64_t destination_offset, uint64_t bytes) {
  if (!recording_) fail("Vulkan: copy outside begin()/end()");
  if (source_offset > source.size() || bytes > source.size() - source_offset ||
      destination_offset > destination.size() || bytes > destination.size() - destination_offset)
    fail("Vulkan: copy of {} bytes from '{}'+{} to '{}'+{} passes a buffer's end", bytes,
         source.name(), source_offset, destination.name(), destination_offset);
  Access accesses[] = {
      {source.handle(), source_offset, source_offset + bytes, false},
      {destination.handle(), destination_offset, destination_offset + bytes, true}};
  order(accesses);
  VkBufferCopy region{source_offset, destination_offset, bytes};
  vkCmdCopyBuffer(commands_.handle(), source.handle(), destination.handle(), 1, &region);
  finish_command("copy", 2 * bytes);
}

void CommandSequence::order(std::span<const Access> accesses) {
  bool conflict = false;
  for (const Access& next : accesses) {
    for (const Access& earlier : since_barrier_) {
      bool overlap =
          next.buffer == earlier.buffer && next.begin < earlier.end && earlier.begin < next.end;
      if (overlap && (next.write || earlier.write)) conflict = true;
    }
  }
  if (conflict) barrier();
  since_barrier_.insert(since_barrier_.end(), accesses.begin(), accesses.end());
}

void CommandSequence::barrier() {
  VkMemoryBarrier memory{};
  memory.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  memory.srcAccessMask = kWrites;
  memory.dstAccessMask = kReadsAndWrites;
  vkCmdPipelineBarrier(commands_.handle(), kWorkStages, kWorkStages, 0, 1, &memory, 0, nullptr, 0,
                       nullptr);
  since_barrier_.clear();
  ++barriers_;
}

void CommandSequence::end() {
  if (!recording_) fail("Vulkan: end() without begin()");
  // Makes every write visible to the host once the fence signals (the logits are read from
  // staging).
  VkMemoryBarrier memory{};
  memory.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  memory.srcAccessMask = kWrites;
  memory.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(commands_.handle(), kWorkStages, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &memory,
                       0, nullptr, 0, nullptr);
  if (timestamps_ == Timestamps::Bracket) write_timestamp();
  check(vkEndCommandBuffer(commands_.handle()), "vkEndCommandBuffer");
  recording_ = false;
  recorded_ = true;
}

void CommandSequence::submit_and_wait() {
  submit();
  wait();
}

void CommandSequence::submit() {
  if (!recorded_) fail("Vulkan: submit of a sequence that was not recorded");
  if (pending_) fail("Vulkan: submit of a sequence whose last submission is still pending");
  commands_.submit();
  pending_ = true;
}

void CommandSequence::wait() {
  if (!pending_) fail("Vulkan: wait for a sequence that was not submitted");
  VkDevice device = context().device();
  // Polls instead of sleeping in vkWaitForFences: a blocked waiter wakes ~50 us after the GPU
  // finishes (on the H200), a poller ~20 us. Yielding between polls leaves the core to anyone
  // runnable (lavapipe's worker threads, when the "GPU" is the CPU).
  for (;;) {
    const VkResult status = vkGetFenceStatus(device, commands_.fence());
    if (status == VK_SUCCESS) break;
    if (status != VK_NOT_READY) check(status, "vkGetFenceStatus");
    std::this_thread::yield();
  }
  pending_ = false;
  if (timestamps() && queries_written_ > 0) {
    last_timestamps_.resize(queries_written_);
    check(
        vkGetQueryPoolResults(device, query_pool_, 0, queries_written_,
                              last_timestamps_.size() * sizeof(uint64_t), last_timestamps_.data(),
                              sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
        "vkGetQueryPoolResults");
  }
}

double CommandSequence::tick_seconds(uint64_t from, uint64_t to) const {
  const uint32_t bits = context().info().timestamp_valid_bits;
  const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  const uint64_t ticks = ((to & mask) - (from & mask)) & mask;  // wraps at the valid bits
  return static_cast<double>(ticks) * context().info().timestamp_period_ns * 1e-9;
}

double CommandSequence::last_seconds() const {
  if (last_timestamps_.size() < 2) return 0.0;
  return tick_seconds(last_timestamps_.front(), last_timestamps_.back());
}

std::vector<double> CommandSequence::last_command_seconds() const {
  std::vector<double> seconds;
  if (timestamps_ != Timestamps::EveryCommand) return seconds;
  for (size_t i = 1; i < last_timestamps_.size(); ++i)
    seconds.push_back(tick_seconds(last_timestamps_[i - 1], last_timestamps_[i]));
  return seconds;
}

VkDescriptorSet CommandSequence::allocate_set(VkDescriptorSetLayout layout) {
  VkDevice device = context().device();
  VkDescriptorSetAllocateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
  info.descriptorSetCount = 1;
  info.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  if (pools_used_ == 0) pools_used_ = 1;
  while (true) {
    if (pools_used_ > descriptor_pools_.size()) {
      VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                kSetsPerPool * kDescriptorsPerSet};
      VkDescriptorPoolCreateInfo pool{};
      pool.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
      pool.maxSets = kSetsPerPool;
      pool.poolSizeCount = 1;
      pool.pPoolSizes = &size;
      VkDescriptorPool created = VK_NULL_HANDLE;
      check(vkCreateDescriptorPool(device, &pool, nullptr, &created), "vkCreateDescriptorPool");
      descriptor_pools_.push_back(created);
    }
    info.descriptorPool = descriptor_pools_[pools_used_ - 1];
    VkResult result = vkAllocateDescriptorSets(device, &info, &set);
    if (result == VK_SUCCESS) return set;
    if (result != VK_ERROR_OUT_OF_POOL_MEMORY && result != VK_ERROR_FRAGMENTED_POOL)
      check(result, "vkAllocateDescriptorSets");
    ++pools_used_;  // this pool is full: go on to the next, made when needed
  }
}

}  // namespace quant::vulkan
