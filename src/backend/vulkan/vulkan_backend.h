#pragma once
// The Vulkan backend: a compiled plan on one device. Per token: write the token and position,
// submit the recorded command buffer once, wait once on its fence, and read the logits from mapped
// memory.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/context.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"
#include "backend/vulkan/plan_compiler.h"
#include "plan/backend.h"
#include "plan/plan.h"

namespace quant::vulkan {

struct VulkanBackendOptions {
  uint32_t device_index = 0;    // which device (`quant devices` lists them)
  uint32_t context_length = 0;  // positions the KV caches hold (> 0)
  bool validation = false;  // Khronos validation with synchronization validation (slow; for tests)
  PipelineOptions pipelines;
};

class VulkanBackend final : public Backend {
 public:
  // `plan` must be checked (plan::check_plan) and outlive the backend. Uploads the weights and
  // records the token's command buffer. Throws quant::Error when the device cannot run the plan.
  VulkanBackend(const plan::Plan& plan, const VulkanBackendOptions& options);

  std::string_view name() const override { return "vulkan"; }
  std::span<const float> forward(int32_t token, uint32_t pos) override;
  std::span<const float> forward_observed(int32_t token, uint32_t pos,
                                          const PlanObserver& observer) override;
  // One submission per token as forward(), but the tokens before the last skip the output norm,
  // the vocabulary projection and the logits read-back.
  std::span<const float> prefill(std::span<const int32_t> tokens, uint32_t pos) override;
  // Zeroes the recurrent states. KV cache positions past the current one are never read, so the
  // caches need no clearing.
  void reset() override;

  // Device time and command counts of every submission so far (nullopt where the device has no
  // timestamps).
  std::optional<DeviceCounters> device_counters() const override;
  // forward() with a timestamp after every command of a separately recorded command buffer.
  std::optional<TokenProfile> forward_profiled(int32_t token, uint32_t pos) override;

  const Context& context() const { return *context_; }

 private:
  void check_position(int32_t token, uint32_t pos) const;
  // Submits `sequence`, waits, and adds the submission to the counters.
  void submit(CommandSequence& sequence);

  // Destroyed in reverse order of declaration: everything made on the device before the context.
  std::unique_ptr<Context> context_;
  std::unique_ptr<Pipelines> pipelines_;
  std::unique_ptr<Transfer> transfer_;
  std::unique_ptr<CompiledPlan> compiled_;
  std::unique_ptr<CommandSequence> token_;  // recorded once at creation
  std::unique_ptr<CommandSequence>
      prompt_token_;  // without logits; recorded on the first prefill()
  std::unique_ptr<CommandSequence> observed_token_;  // recorded on the first forward_observed()
  std::unique_ptr<Buffer> observation_;              // every op's output, for forward_observed()
  std::unique_ptr<CommandSequence> profiled_token_;  // recorded on the first forward_profiled()
  DeviceCounters counters_;
};

}  // namespace quant::vulkan
