#include "backend/vulkan/greedy_chain.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "backend/vulkan/kernels.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

// A slot: the argmax's result, then the position, so that its index (the token) and the position
// make one StepInputs.
static_assert(sizeof(ArgmaxResult) == 8 && offsetof(ArgmaxResult, index) == 4);
static_assert(sizeof(StepInputs) == 8 && offsetof(StepInputs, pos) == 4);
constexpr uint64_t kStepOffset = offsetof(ArgmaxResult, index);
constexpr uint64_t kSlotBytes = kStepOffset + sizeof(StepInputs);

uint64_t round_up(uint64_t n, uint64_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

}  // namespace

GreedyChain::GreedyChain(Pipelines& pipelines, Transfer& transfer, const CompiledPlan& compiled,
                         uint32_t short_positions, uint32_t tokens_per_submission)
    : pipelines_(pipelines),
      compiled_(compiled),
      short_positions_(short_positions),
      tokens_per_submission_(std::max(tokens_per_submission, 1u)),
      // The argmax binds a slot, so slots start at the device's storage-buffer offset alignment.
      slot_stride_(round_up(
          kSlotBytes,
          std::max<uint64_t>(pipelines.context().info().min_storage_buffer_offset_alignment, 16))),
      slots_(pipelines.context(), slot_count() * slot_stride_, MemoryRole::Staging, "greedy slots"),
      scratch_(pipelines.context(), argmax_scratch_bytes(pipelines, compiled.plan().n_vocab),
               MemoryRole::Activations, "argmax scratch") {
  transfer.fill_zero(scratch_);
}

void GreedyChain::set_first_token(int32_t token) {
  const auto value = static_cast<uint32_t>(token);
  std::memcpy(slots_.mapped().data() + slot_offset(0) + kStepOffset, &value, sizeof(value));
}

CommandSequence& GreedyChain::prepare(uint32_t first, uint32_t pos, uint32_t count) {
  if (first % tokens_per_submission_ != 0 || count == 0 || count > tokens_per_submission_)
    fail("greedy chain: a submission of {} tokens from token {} (at most {} from a multiple)",
         count, first, tokens_per_submission_);
  std::memcpy(slots_.mapped().data() + slot_offset(first) + kStepOffset + offsetof(StepInputs, pos),
              &pos, sizeof(pos));
  const bool short_one = pos + count <= short_positions_;
  const bool copies_inputs = first == 0;
  std::unique_ptr<CommandSequence>& recording =
      recordings_[{first % slot_count(), short_one, copies_inputs, count}];
  if (!recording) {
    recording = std::make_unique<CommandSequence>(pipelines_, Timestamps::Bracket);
    recording->begin();
    const plan::Plan& plan = compiled_.plan();
    const BufferRange next_step = compiled_.step_inputs();
    for (uint32_t token = first; token < first + count; ++token) {
      const BufferRange slot_step{&slots_, slot_offset(token) + kStepOffset, sizeof(StepInputs)};
      compiled_.record_chained(*recording, token == 0 ? &slot_step : nullptr,
                               short_one ? short_positions_ : 0);
      recording->set_label("greedy argmax", -1);
      encode_argmax(*recording, compiled_.activation(plan.logits), plan.n_vocab, whole(scratch_),
                    {&slots_, slot_offset(token + 1), sizeof(ArgmaxResult)}, &next_step);
    }
    recording->end();
  }
  return *recording;
}

ArgmaxResult GreedyChain::result(uint32_t index) const {
  ArgmaxResult result;
  std::memcpy(&result, slots_.mapped().data() + slot_offset(index + 1), sizeof(result));
  return result;
}

}  // namespace quant::vulkan
