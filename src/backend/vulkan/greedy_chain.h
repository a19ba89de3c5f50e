#pragma once
// Greedy decoding with the argmax on the device, for VulkanBackend::decode_greedy: token recordings
// that take their token from the previous token's argmax, so that the next tokens' submission can
// be queued behind the current one before the host has seen any of them, and only the argmaxes (8
// bytes each) come back instead of the logits.
//
// A submission holds up to tokens_per_submission() tokens, one after the other in one command
// buffer: between two submissions the device idles for a while (on the H200 ~30 us, 3 % of a
// SmolLM2-1.7B token), between two tokens of one it waits for one barrier.
//
// Host-visible slots, a ring of kSubmissions x tokens_per_submission(), hold the tokens' results:
// token t (counted over the whole decoding, from 0) writes its argmax into slot t + 1. A slot holds
// {argmax value, token, position}: the argmax writes the first two (the host writes the token of
// token 0), the host writes the position, and {token, position} is the StepInputs that token 0's
// recording copies to the device. Every argmax also writes the next token's inputs (its index, the
// position plus one) into the plan's step inputs, where the next token reads them without a copy
// and the barrier after it (argmax_kernel.h). The host reads a submission's results once it has
// finished, before the submission that would overwrite them (kSubmissions later) is queued.

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "backend/vulkan/argmax_kernel.h"
#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"
#include "backend/vulkan/plan_compiler.h"

namespace quant::vulkan {

class GreedyChain {
 public:
  // The most submissions in flight.
  static constexpr uint32_t kSubmissions = 2;
  // Tokens per submission where no token past a stop matters (plans without recurrent states).
  // On the H200, tg128 against one token per submission (docs/perf/README.md, v11): 2 tokens
  // +0.5-1.5 %, 4 +0.9-2.4 %, 8 +1.0-2.9 %, 16 +0.9-3.6 % (no more for Qwen3-4B); 8 keeps what a
  // stop wastes (up to 2 x 8 - 1 tokens fed past it, which the host waits for) small.
  static constexpr uint32_t kTokensPerSubmission = 8;

  // `pipelines` and `compiled` must outlive this. Recordings for positions before
  // `short_positions` attend over that many positions at most, as VulkanBackend's (0: none). Each
  // submission holds at most `tokens_per_submission` tokens (at least 1).
  GreedyChain(Pipelines& pipelines, Transfer& transfer, const CompiledPlan& compiled,
              uint32_t short_positions, uint32_t tokens_per_submission);

  uint32_t tokens_per_submission() const { return tokens_per_submission_; }

  // The token that token 0 feeds (the later ones feed the argmax before them).
  void set_first_token(int32_t token);
  // The recording of tokens first .. first + count - 1 (first a multiple of
  // tokens_per_submission(), 1 <= count <= tokens_per_submission()), the first of them fed at
  // position `pos` (recorded on first use; token 0 reads `pos` from its slot), ready to submit.
  CommandSequence& prepare(uint32_t first, uint32_t pos, uint32_t count);
  // The argmax of token `index`'s logits, once its submission has finished.
  ArgmaxResult result(uint32_t index) const;

 private:
  uint32_t slot_count() const { return kSubmissions * tokens_per_submission_; }
  uint64_t slot_offset(uint32_t index) const { return (index % slot_count()) * slot_stride_; }

  Pipelines& pipelines_;
  const CompiledPlan& compiled_;
  uint32_t short_positions_;
  uint32_t tokens_per_submission_;
  uint64_t slot_stride_;
  Buffer slots_;    // Staging: slot_count() x {value, token, position}, slot_stride_ bytes apart
  Buffer scratch_;  // the argmax's (argmax_kernel.h)
  // By (first slot, short positions, copying token 0's inputs from its slot, tokens).
  std::map<std::tuple<uint32_t, bool, bool, uint32_t>, std::unique_ptr<CommandSequence>>
      recordings_;
};

}  // namespace quant::vulkan
