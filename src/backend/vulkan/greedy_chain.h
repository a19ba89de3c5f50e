#pragma once
// Greedy decoding with the argmax on the device, for VulkanBackend::decode_greedy: token recordings
// that take their token from the previous token's argmax, so that the next token's submission can
// be queued behind the current one before the host has seen either token, and only the argmax (8
// bytes) comes back instead of the logits.
//
// Two slots of host-visible memory serve alternate submissions: submission i reads its step inputs
// from slot i % 2 and writes its argmax into slot (i + 1) % 2, the next submission's. A slot holds
// {argmax value, token, position}: the argmax writes the first two (the host writes the token of
// submission 0), the host writes the position, and {token, position} is the StepInputs the
// recording copies to the device. The host may write slot i % 2 once submission i - 2 (which read
// it) has finished, and read submission i's argmax once submission i has finished, before
// submission i + 2 (which overwrites it) is queued: at most two submissions in flight.
// Only submission 0 copies its step inputs from its slot: every argmax also writes the next
// token's inputs (its index, the position plus one) into the plan's step inputs, where the next
// submission reads them without a copy and the barrier after it (argmax_kernel.h).

#include <array>
#include <cstdint>
#include <memory>

#include "backend/vulkan/argmax_kernel.h"
#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"
#include "backend/vulkan/plan_compiler.h"

namespace quant::vulkan {

class GreedyChain {
 public:
  // The most submissions in flight.
  static constexpr uint32_t kSlots = 2;

  // `pipelines` and `compiled` must outlive this. Recordings for positions before
  // `short_positions` attend over that many positions at most, as VulkanBackend's (0: none).
  GreedyChain(Pipelines& pipelines, Transfer& transfer, const CompiledPlan& compiled,
              uint32_t short_positions);

  // The token that submission 0 feeds (the later ones feed the argmax before them).
  void set_first_token(int32_t token);
  // Writes the position submission `index` feeds and returns its recording (recorded on first use),
  // ready to submit.
  CommandSequence& prepare(uint32_t index, uint32_t pos);
  // The argmax of submission `index`'s logits, once it has finished.
  ArgmaxResult result(uint32_t index) const;

 private:
  uint64_t slot_offset(uint32_t index) const { return (index % kSlots) * slot_stride_; }

  Pipelines& pipelines_;
  const CompiledPlan& compiled_;
  uint32_t short_positions_;
  uint64_t slot_stride_;
  Buffer slots_;    // Staging: kSlots x {value, token, position}, slot_stride_ bytes apart
  Buffer scratch_;  // the argmax's (argmax_kernel.h)
  // By slot, then whole context (0) or short positions (1), then copying the step inputs from the
  // slot (0: submission 0) or reading them where the argmax before left them (1).
  std::array<std::array<std::array<std::unique_ptr<CommandSequence>, 2>, 2>, kSlots> recordings_;
};

}  // namespace quant::vulkan
