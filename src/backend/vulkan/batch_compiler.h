#pragma once
// Compiles a plan for batches of prompt tokens: the ops of every layer run over n_tokens tokens at
// once (matrix-matrix products instead of mat-vecs, causal attention of n_tokens queries, RoPE and
// KV stores at n_tokens positions), and the output head runs for the last token only, through the
// single-token plan (CompiledPlan::record_head) after the last token's values are copied into its
// buffers. The tokens and the first position come from a small batch-inputs buffer
// (batch_kernels.h: BatchInputs), so one recording serves every batch of its size.
//
// The batched recording covers Embed, RmsNorm, MatVec, Add, Rope, KvStore, Attention and SwiGLU
// before the head. Plans with any other op there keep the token-by-token prefill: qwen35's
// GatedDeltaNet and CausalConv1dSilu carry a recurrent state from one token to the next, and its
// SliceHeads and SigmoidGate come with them. So do plans whose attention heads the batched kernel
// does not take (batch_kernels.h: kBatchAttentionMaxHeadDim).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"
#include "backend/vulkan/plan_compiler.h"
#include "plan/plan.h"

namespace quant::vulkan {

// Why `compiled`'s plan cannot be prefilled in batches on this device, or empty when it can.
std::string batch_unsupported_reason(const CompiledPlan& compiled, const Pipelines& pipelines);

class CompiledBatch {
 public:
  // `compiled` (weights, KV caches, the head's single-token buffers) must outlive this. Allocates
  // every buffer the layers use for `capacity` tokens, or fewer where `capacity` rows of a buffer
  // would pass what one binding may cover (or the device's workgroup grid). Throws quant::Error
  // when batch_unsupported_reason() says why the plan cannot be batched.
  CompiledBatch(Pipelines& pipelines, const CompiledPlan& compiled, uint32_t capacity);

  // The most tokens one batch takes.
  uint32_t capacity() const { return capacity_; }

  // Records a batch of n_tokens tokens (1 .. capacity()): the batch inputs in, then every op
  // before the head over n_tokens rows, with each residual add folded into the product before it.
  // With `logits`, then the head for the batch's last token and the logits read-back
  // (CompiledPlan::logits()).
  void record(CommandSequence& sequence, uint32_t n_tokens, bool logits) const;

  // Sets the tokens (at most capacity()) and the first token's position that the next submission
  // reads.
  void set_inputs(std::span<const int32_t> tokens, uint32_t pos);

 private:
  void record_op(CommandSequence& sequence, const plan::Embed& op, uint32_t n, size_t index) const;
  void record_op(CommandSequence& sequence, const plan::RmsNorm& op, uint32_t n,
                 size_t index) const;
  void record_op(CommandSequence& sequence, const plan::MatVec& op, uint32_t n, size_t index) const;
  void record_op(CommandSequence& sequence, const plan::Add& op, uint32_t n, size_t index) const;
  void record_op(CommandSequence& sequence, const plan::Rope& op, uint32_t n, size_t index) const;
  void record_op(CommandSequence& sequence, const plan::KvStore& op, uint32_t n,
                 size_t index) const;
  void record_op(CommandSequence& sequence, const plan::Attention& op, uint32_t n,
                 size_t index) const;
  void record_op(CommandSequence& sequence, const plan::SwiGLU& op, uint32_t n, size_t index) const;
  // The ops the batched recording does not cover (batch_unsupported_reason refuses such plans).
  template <typename Op>
  void record_op(CommandSequence& sequence, const Op& op, uint32_t n, size_t index) const;

  // The batch's copy of a plan buffer: capacity() rows of the buffer's size.
  BufferRange rows(plan::BufferId id) const;
  uint64_t row_bytes(plan::BufferId id) const;

  const CompiledPlan& compiled_;
  const plan::Plan& plan_;
  uint32_t capacity_ = 0;
  std::vector<std::optional<Buffer>> buffers_;  // per plan buffer; only those the layers use
  // Per op: the Add a MatVec accumulates into (fusion.h's residual folds), and whether an Add is
  // folded so.
  std::vector<std::optional<size_t>> residual_add_;
  std::vector<bool> folded_;
  // The buffers the head reads before it writes them: the last token's row goes to the
  // single-token buffer.
  std::vector<plan::BufferId> head_inputs_;
  // Where the products that accumulate into a residual may put half their sums (encode_matmul).
  std::optional<Buffer> split_scratch_;
  Buffer inputs_;          // device copy of the batch inputs, read by the kernels
  Buffer inputs_staging_;  // what the host writes before each submission
};

}  // namespace quant::vulkan
