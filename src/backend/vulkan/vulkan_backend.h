#pragma once
// The Vulkan backend: a compiled plan on one device. Per token: write the token and position,
// submit the recorded command buffer once, wait once on its fence, and read the logits from mapped
// memory. Prompts go the same way, a batch of tokens per submission (batch_compiler.h). Greedy
// decoding chooses each token on the device and queues the next token's submission before waiting
// for the current one (greedy_chain.h).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "backend/vulkan/batch_compiler.h"
#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/context.h"
#include "backend/vulkan/greedy_chain.h"
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
  // The most prompt tokens prefill() processes in one batch (batch_compiler.h); longer prompts go
  // in several. 0 or 1: token by token, as for plans the batched recording does not cover.
  uint32_t prefill_batch_tokens = 512;
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
  // In batches of up to prefill_batch_tokens tokens, one submission each, with matrix-matrix
  // products, and the output head for the last token only (batch_compiler.h). Plans the batches do
  // not cover go token by token: one submission per token as forward(), but the tokens before the
  // last skip the output norm, the vocabulary projection and the logits read-back. The batched
  // logits agree with forward()'s to rounding (the sums run in another order), not bit for bit.
  std::span<const float> prefill(std::span<const int32_t> tokens, uint32_t pos) override;
  // Whether prefill() runs in batches, and the most tokens a batch takes (0 when it does not).
  uint32_t prefill_batch_capacity() const { return batch_ ? batch_->capacity() : 0; }
  // The argmax of each token's logits on the device (argmax_kernel.h), read back instead of the
  // logits, and written on the device into the next token's inputs: a submission holds several
  // tokens (GreedyChain::kTokensPerSubmission) and the next submission is queued before the
  // current one is waited for, so the device does not wait for the host between tokens. Plans
  // with recurrent states take one token per submission and keep one submission in flight (a
  // token fed past a stop would change the state). The logits, and so the tokens, are forward()'s
  // bit for bit.
  void decode_greedy(int32_t token, uint32_t pos, uint32_t count,
                     const GreedyCallback& on_token) override;
  // Zeroes the recurrent states. KV cache positions past the current one are never read, so the
  // caches need no clearing.
  void reset() override;

  // Device time and command counts of every submission so far (nullopt where the device has no
  // timestamps).
  std::optional<DeviceCounters> device_counters() const override;
  // forward() with a timestamp after every command of a separately recorded command buffer.
  std::optional<TokenProfile> forward_profiled(int32_t token, uint32_t pos) override;
  // The first batch of prefill() with a timestamp after every command of a separately recorded
  // command buffer; nullopt where prefill() goes token by token.
  std::optional<PrefillProfile> prefill_profiled(std::span<const int32_t> tokens,
                                                 uint32_t pos) override;

  const Context& context() const { return *context_; }

 private:
  void check_position(int32_t token, uint32_t pos) const;
  // The recording in `whole` or, for a position before short_positions_, in `short_one`; records it
  // on first use (without logits for the prompt, with a timestamp per command for the profile).
  CommandSequence& token_recording(std::unique_ptr<CommandSequence>& whole,
                                   std::unique_ptr<CommandSequence>& short_one, uint32_t pos,
                                   bool logits, Timestamps timestamps);
  std::span<const float> prefill_token_by_token(std::span<const int32_t> tokens, uint32_t pos);
  // The recording of a batch of n_tokens tokens, with or without the head, recorded on first use.
  CommandSequence& batch_recording(uint32_t n_tokens, bool logits);
  // Submits `sequence`, waits, and adds the submission to the counters.
  void submit(CommandSequence& sequence);
  // Waits for a submitted `sequence` and adds the submission to the counters.
  void finish(CommandSequence& sequence);

  // Destroyed in reverse order of declaration: everything made on the device before the context.
  std::unique_ptr<Context> context_;
  std::unique_ptr<Pipelines> pipelines_;
  std::unique_ptr<Transfer> transfer_;
  std::unique_ptr<CompiledPlan> compiled_;
  // The token recordings, decode (recorded at creation), prompt (without logits) and profiled,
  // each for the whole context and for the positions before short_positions_ (recorded on first
  // use): at short positions the attention takes one dispatch where the whole context would need
  // two (encode_attention). short_positions_ is 0 when the whole context takes one.
  std::unique_ptr<CommandSequence> token_;
  std::unique_ptr<CommandSequence> prompt_token_;
  std::unique_ptr<CommandSequence> observed_token_;  // recorded on the first forward_observed()
  std::unique_ptr<Buffer> observation_;              // every op's output, for forward_observed()
  std::unique_ptr<CommandSequence> profiled_token_;
  uint32_t short_positions_ = 0;
  std::unique_ptr<CommandSequence> short_token_;
  std::unique_ptr<CommandSequence> short_prompt_token_;
  std::unique_ptr<CommandSequence> short_profiled_token_;
  std::unique_ptr<CompiledBatch> batch_;  // null: prefill goes token by token
  // By (tokens, with the head): the full-size batches, and the latest batch of another size (the
  // end of a prompt), so that a remainder is recorded again only when its size changes.
  std::map<std::pair<uint32_t, bool>, std::unique_ptr<CommandSequence>> batch_recordings_;
  std::unique_ptr<GreedyChain> greedy_;  // made on the first decode_greedy()
  DeviceCounters counters_;
};

}  // namespace quant::vulkan
