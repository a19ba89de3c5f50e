#pragma once
// Compiles a plan for the GPU: every weight uploaded once, every activation buffer and KV cache
// allocated once on the device, and one token's work recorded into one command buffer that reads
// the token and position from a small step buffer, so the same recording is submitted for every
// token.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/fusion.h"
#include "backend/vulkan/kernels.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"
#include "backend/vulkan/quantized_handoff.h"
#include "plan/plan.h"

namespace quant::vulkan {

class CompiledPlan {
 public:
  // `plan` must be checked and outlive this. Throws quant::Error naming the op when an op needs a
  // weight type no kernel reads, or a buffer larger than the device allows.
  CompiledPlan(Pipelines& pipelines, Transfer& transfer, const plan::Plan& plan,
               uint32_t context_length);

  // Records one token: step inputs in, every op in plan order, logits out. Without `observation`,
  // ops are folded into mat-vecs as fusion.h says. With it (observation_bytes() bytes of Staging
  // memory), nothing is folded and each op that writes a buffer also copies it there, at
  // observation_offset(op index).
  // With `logits` false, the ops after the last layer (the output norm and the vocabulary
  // projection) and the read-back are left out: what prefill submits for every prompt token but
  // the last. With `positions` (0: the context length), the attention reads at most that many
  // positions of the caches: the recording serves tokens before that position only, and a short
  // enough limit lets the attention take one dispatch (encode_attention).
  void record(CommandSequence& sequence, const Buffer* observation, bool logits = true,
              uint32_t positions = 0) const;
  // Records one token as record(sequence, nullptr, true, positions) does, except that the step
  // inputs are copied from `step` (a StepInputs in device memory that an earlier submission may
  // have written: greedy_chain.h), or with `step` nullptr read where an earlier submission left
  // them (in step_inputs()), and the logits are not read back: they stay on the device, in
  // activation(plan().logits).
  void record_chained(CommandSequence& sequence, const BufferRange* step, uint32_t positions) const;
  // The step inputs (a StepInputs) every recording reads.
  BufferRange step_inputs() const;
  // Records only the ops after the last layer (folded) and the logits read-back: the head that a
  // batched prefill (batch_compiler.h) runs for its last token, from this plan's buffers.
  void record_head(CommandSequence& sequence) const;
  // The index of the first op after the last layer's (plan().ops.size() when there is none).
  size_t head_begin() const { return head_begin_; }

  // Zeroes the recurrent states (the start of a new sequence).
  void reset_states(Transfer& transfer);

  // Sets the token and position the next submission reads.
  void set_step(int32_t token, uint32_t pos);
  // The logits of the last submission (mapped host memory).
  std::span<const float> logits() const;

  uint64_t observation_bytes() const { return observation_bytes_; }
  // Byte offset of op i's output in the observation buffer; nullopt for ops that write no buffer.
  std::optional<uint64_t> observation_offset(size_t op_index) const {
    return observation_offsets_[op_index];
  }

  const plan::Plan& plan() const { return plan_; }
  uint32_t context_length() const { return context_length_; }

  // The device side of the plan, for the batched prefill: a plan buffer (one token's values),
  // weights as matrices or F32 vectors, a KV cache, and the RoPE inverse frequencies of a
  // (n_rot, theta) that some Rope op of the plan uses.
  BufferRange activation(plan::BufferId id) const;
  WeightMatrix matrix(plan::WeightId id) const;
  BufferRange vector_weight(plan::WeightId id) const;
  KvCacheRanges cache(plan::KvCacheId id) const;
  BufferRange rope_frequencies(uint32_t n_rot, float theta) const;

 private:
  struct KvCacheBuffers {
    Buffer keys;
    Buffer values;
    uint32_t kv_dim = 0;
  };

  void upload_weights(Transfer& transfer);
  void upload_matrix(Transfer& transfer, const plan::WeightRef& weight, const Buffer& buffer,
                     uint64_t offset);
  // Drops the RoPE and KV store folds of mat-vecs that cannot take them on this device.
  void unfold_epilogues_that_do_not_fit(const Pipelines& pipelines);
  // Plans the quantized handoffs (producer dispatch -> mat-vecs) this device can run, and their
  // buffers.
  void plan_handoffs(const Pipelines& pipelines, Transfer& transfer);
  // Record the mat-vec, RoPE or attention at op `index` with the ops fusions_ folds into it. A
  // mat-vec reads its x quantized only when its producer is recorded too (at `first_op` or later).
  void record_folded_matvec(CommandSequence& sequence, size_t index, size_t first_op) const;
  void record_folded_rope(CommandSequence& sequence, size_t index) const;
  void record_folded_attention(CommandSequence& sequence, size_t index, size_t first_op,
                               uint32_t positions) const;
  // Plans which attentions' q, k and v mat-vecs run as one (FusionPlan's qkv_matvecs) on this
  // device, and the buffer of their rows.
  void plan_qkv_matvecs(const Pipelines& pipelines, Transfer& transfer);
  // The Attention op whose q, k and v mat-vecs, one of them op `index` (or the Attention op
  // itself), a folded recording of ops from `first_op` records as one mat-vec.
  std::optional<size_t> qkv_matvec_of(size_t index, size_t first_op) const;
  // The q, k and v matrices of Attention op `index` with qkv_matvecs, back to back.
  std::array<WeightMatrix, 3> qkv_matrices(size_t index) const;
  // The q, k and v mat-vecs of Attention op `index` as one, into qkv_rows_.
  void record_qkv_matvec(CommandSequence& sequence, size_t index, size_t first_op) const;
  // Embed op `index`, quantizing its row for the next mat-vecs where it is a handoff's producer
  // and `fold` (the recording folds ops).
  void record_embed(CommandSequence& sequence, size_t index, bool fold) const;
  void record_op(CommandSequence& sequence, const plan::RmsNorm& op) const;
  void record_op(CommandSequence& sequence, const plan::MatVec& op) const;
  void record_op(CommandSequence& sequence, const plan::Add& op) const;
  void record_op(CommandSequence& sequence, const plan::Rope& op) const;
  void record_op(CommandSequence& sequence, const plan::KvStore& op) const;
  // With `quantized_out`, the attention also quantizes its output there (a handoff's).
  void record_attention(CommandSequence& sequence, const plan::Attention& op, uint32_t positions,
                        const BufferRange* quantized_out) const;
  // The quantized vector the dispatch of op `index` writes for its handoff, or nullptr.
  const BufferRange* quantized_output_of(size_t index) const;
  void record_op(CommandSequence& sequence, const plan::SwiGLU& op) const;
  void record_op(CommandSequence& sequence, const plan::SliceHeads& op) const;
  void record_op(CommandSequence& sequence, const plan::SigmoidGate& op) const;
  void record_op(CommandSequence& sequence, const plan::CausalConv1dSilu& op) const;
  void record_op(CommandSequence& sequence, const plan::GatedDeltaNet& op) const;
  // One token: the step inputs copied from `step` (unless nullptr), then ops 0 .. end - 1
  // (record_ops).
  void record_token(CommandSequence& sequence, const BufferRange* step, size_t end,
                    const Buffer* observation, bool logits, uint32_t positions) const;
  // Ops begin .. end - 1 as record() says, then (with `logits`) the read-back.
  void record_ops(CommandSequence& sequence, size_t begin, size_t end, const Buffer* observation,
                  bool logits, uint32_t positions) const;

  const plan::Plan& plan_;
  uint32_t context_length_;
  size_t head_begin_ = 0;
  FusionPlan fusions_;
  std::vector<QuantizedHandoff> handoffs_;
  std::vector<Buffer> handoff_buffers_;           // per handoff: the quantized vector...
  std::vector<BufferRange> handoff_ranges_;       // ...and all of it as a range
  std::map<size_t, size_t> handoff_of_producer_;  // MatVec, Attention or Embed op -> handoff
  std::map<size_t, size_t> handoff_of_consumer_;  // MatVec op index -> handoff
  std::vector<Buffer> weight_buffers_;            // distinct tensors (tied weights share one)
  std::vector<size_t> weight_buffer_of_;          // per plan weight: index into weight_buffers_
  std::vector<uint64_t> weight_offset_of_;        // per plan weight: byte offset in its buffer
  std::vector<Buffer> activations_;               // per plan buffer
  std::vector<KvCacheBuffers> kv_caches_;
  std::vector<Buffer> states_;                                     // per plan state
  std::map<std::pair<uint32_t, float>, Buffer> rope_frequencies_;  // by (n_rot, theta)
  std::optional<Buffer> attention_scratch_;
  // By Attention op index, for those that prepare their q and k (fusions_): the norm weights and
  // inverse frequencies they read (AttentionPreparation::constants).
  std::map<size_t, Buffer> attention_constants_;
  // The q, k and v mat-vecs that run as one (plan_qkv_matvecs), and their Attention ops: op index
  // -> Attention op index. Their rows, q's then k's then v's, go to qkv_rows_.
  std::map<size_t, size_t> qkv_matvec_attention_;
  std::optional<Buffer> qkv_rows_;
  Buffer step_;          // device copy of StepInputs, read by the kernels
  Buffer step_staging_;  // what the host writes before each submission
  Buffer logits_readback_;
  std::vector<std::optional<uint64_t>> observation_offsets_;
  uint64_t observation_bytes_ = 0;
};

}  // namespace quant::vulkan
