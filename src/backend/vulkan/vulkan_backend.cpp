#include "backend/vulkan/vulkan_backend.h"

#include "common/error.h"

namespace quant::vulkan {

namespace {

// Uploads go through a staging buffer of this size (weights larger than it go in pieces).
constexpr uint64_t kStagingBytes = 16ull << 20;

}  // namespace

VulkanBackend::VulkanBackend(const plan::Plan& plan, const VulkanBackendOptions& options) {
  context_ = std::make_unique<Context>(
      ContextOptions{.device_index = options.device_index, .validation = options.validation});
  pipelines_ = std::make_unique<Pipelines>(*context_, options.pipelines);
  transfer_ = std::make_unique<Transfer>(*context_, kStagingBytes);
  compiled_ = std::make_unique<CompiledPlan>(*pipelines_, *transfer_, plan, options.context_length);
  token_ = std::make_unique<CommandSequence>(*pipelines_);
  token_->begin();
  compiled_->record(*token_, nullptr);
  token_->end();
}

// The members' destructors run in reverse order: sequences, buffers and pipelines before the
// context.
void VulkanBackend::check_position(int32_t token, uint32_t pos) const {
  if (token < 0 || static_cast<uint32_t>(token) >= compiled_->plan().n_vocab)
    fail("Vulkan backend: token {} is outside the vocabulary (0..{})", token,
         compiled_->plan().n_vocab - 1);
  if (pos >= compiled_->context_length())
    fail("Vulkan backend: position {} is past the context length {}", pos,
         compiled_->context_length());
}

std::span<const float> VulkanBackend::forward(int32_t token, uint32_t pos) {
  check_position(token, pos);
  compiled_->set_step(token, pos);
  token_->submit_and_wait();
  return compiled_->logits();
}

void VulkanBackend::reset() {
  compiled_->reset_states(*transfer_);
}

std::span<const float> VulkanBackend::forward_observed(int32_t token, uint32_t pos,
                                                       const PlanObserver& observer) {
  check_position(token, pos);
  if (!observed_token_) {
    observation_ = std::make_unique<Buffer>(*context_, compiled_->observation_bytes(),
                                            MemoryRole::Staging, "observed op outputs");
    observed_token_ = std::make_unique<CommandSequence>(*pipelines_);
    observed_token_->begin();
    compiled_->record(*observed_token_, observation_.get());
    observed_token_->end();
  }
  compiled_->set_step(token, pos);
  observed_token_->submit_and_wait();
  const plan::Plan& plan = compiled_->plan();
  const uint8_t* base = observation_->mapped().data();
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    std::optional<uint64_t> offset = compiled_->observation_offset(i);
    if (!offset) continue;
    const plan::BufferId output = *plan::output_of(plan.ops[i]);
    observer(plan.ops[i],
             {reinterpret_cast<const float*>(base + *offset), plan.buffer(output).n_floats});
  }
  return compiled_->logits();
}

}  // namespace quant::vulkan
