#pragma once
// One recorded command buffer of dispatches and copies, which may be submitted any number of times
// (the plan compiler records a token's work once and re-submits it for every token). Every dispatch
// goes through dispatch(), which checks the call against the pipeline's record and the device's
// limits and places a barrier only when the dispatch touches a buffer range that an earlier command
// wrote (or writes one that an earlier command read) since the last barrier.

#include <vulkan/vulkan.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "backend/vulkan/fenced_command_buffer.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"

namespace quant::vulkan {

// Whether a sequence writes GPU timestamps, and how many.
enum class Timestamps {
  None,
  Bracket,       // one at the start and one at the end: the submission's device time
  EveryCommand,  // also one after each dispatch or copy: per-command device time
};

// What one recorded command is, for profiles.
struct CommandInfo {
  std::string kernel;  // the kernel name, or "copy"
  std::string label;   // what it computes, as set_label() said when it was recorded
  int32_t layer = -1;
  uint64_t bytes = 0;  // bytes its bindings (or the copy's source and destination) cover
};

struct GroupCount {
  uint32_t x = 1;
  uint32_t y = 1;
  uint32_t z = 1;
};

class CommandSequence {
 public:
  // With timestamps (where the device has them), `max_commands` bounds the dispatches and copies
  // one recording may hold (EveryCommand writes one timestamp per command).
  explicit CommandSequence(Pipelines& pipelines, Timestamps timestamps = Timestamps::None,
                           uint32_t max_commands = 0);
  ~CommandSequence();
  CommandSequence(const CommandSequence&) = delete;
  CommandSequence& operator=(const CommandSequence&) = delete;

  // Starts recording, dropping whatever was recorded before.
  void begin();

  // Records kernel `name` with `bindings` (binding i = bindings[i]) and push constants `push`.
  // Throws quant::Error when the call does not match the kernel's record or the device's limits.
  template <typename Push>
  void dispatch(std::string_view name, std::initializer_list<BufferRange> bindings,
                const Push& push, GroupCount groups) {
    static_assert(std::is_trivially_copyable_v<Push>);
    dispatch_bytes(name, bindings, &push, sizeof(Push), groups);
  }
  void dispatch_bytes(std::string_view name, std::span<const BufferRange> bindings,
                      const void* push, uint32_t push_bytes, GroupCount groups);

  // Records a copy of `bytes` bytes between two buffers.
  void copy(const Buffer& source, uint64_t source_offset, const Buffer& destination,
            uint64_t destination_offset, uint64_t bytes);

  // Names what the commands recorded from now on compute (for command_infos()).
  void set_label(std::string label, int32_t layer);

  // Ends recording; the results become visible to the host once a submission completes.
  void end();

  // Submits the recorded commands and waits for them to finish.
  void submit_and_wait();
  // The two halves of submit_and_wait(), for keeping several sequences in flight: submit() queues
  // the commands (not while a submission of this sequence is pending), wait() waits for them and
  // reads the timestamps.
  void submit();
  void wait();

  // Whether this sequence writes timestamps (asked for, and the device has them).
  bool timestamps() const { return timestamps_ != Timestamps::None; }
  // Device seconds of the last submission, start to end; 0 without timestamps.
  double last_seconds() const;
  // With EveryCommand: device seconds of each command of the last submission, in recording order
  // (from the timestamp after the previous command, or the start, to the one after it).
  std::vector<double> last_command_seconds() const;
  const std::vector<CommandInfo>& command_infos() const { return commands_info_; }

  // `workgroups` workgroups laid out as x (and, past the device's limit, y) so that a shader's
  // linear_workgroup_id() counts them; the last row may have extra workgroups, which shaders skip.
  GroupCount linear_groups(uint64_t workgroups) const;

  Pipelines& pipelines() const { return pipelines_; }
  const Context& context() const { return pipelines_.context(); }
  uint32_t dispatch_count() const { return dispatches_; }
  uint32_t barrier_count() const { return barriers_; }

 private:
  struct Access {
    VkBuffer buffer;
    uint64_t begin;
    uint64_t end;
    bool write;
  };
  void check_bindings(const Pipeline& pipeline, std::span<const BufferRange> bindings) const;
  // Adds a barrier first when `accesses` conflict with what was touched since the last barrier.
  void order(std::span<const Access> accesses);
  void barrier();
  VkDescriptorSet allocate_set(VkDescriptorSetLayout layout);
  // After a command: its CommandInfo, and its timestamp with EveryCommand.
  void finish_command(std::string kernel, uint64_t bytes);
  void write_timestamp();
  double tick_seconds(uint64_t from, uint64_t to) const;

  Pipelines& pipelines_;
  FencedCommandBuffer commands_;
  std::vector<VkDescriptorPool> descriptor_pools_;
  uint32_t pools_used_ = 0;  // pools_[0 .. pools_used_-1] have sets in this recording
  std::vector<Access> since_barrier_;
  bool recording_ = false;
  bool recorded_ = false;
  bool pending_ = false;  // submitted, not yet waited for
  uint32_t dispatches_ = 0;
  uint32_t barriers_ = 0;
  Timestamps timestamps_ = Timestamps::None;
  VkQueryPool query_pool_ = VK_NULL_HANDLE;
  uint32_t query_capacity_ = 0;
  uint32_t queries_written_ = 0;
  std::vector<uint64_t> last_timestamps_;  // read back after each submission
  std::string label_;
  int32_t label_layer_ = -1;
  std::vector<CommandInfo> commands_info_;
};

}  // namespace quant::vulkan
