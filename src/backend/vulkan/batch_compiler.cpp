#include "backend/vulkan/batch_compiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <variant>

#include "backend/vulkan/batch_kernels.h"
#include "backend/vulkan/fusion.h"
#include "backend/vulkan/kernels.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

uint64_t float_bytes(uint64_t n) {
  return n * sizeof(float);
}

// Whether the batched recording has kernels for the op (see batch_compiler.h).
bool batch_covers(const plan::OpKind& kind) {
  if (const auto* attention = std::get_if<plan::Attention>(&kind))
    return attention->head_dim % 4 == 0 && attention->head_dim <= kBatchAttentionMaxHeadDim;
  return std::holds_alternative<plan::Embed>(kind) || std::holds_alternative<plan::RmsNorm>(kind) ||
         std::holds_alternative<plan::MatVec>(kind) || std::holds_alternative<plan::Add>(kind) ||
         std::holds_alternative<plan::Rope>(kind) || std::holds_alternative<plan::KvStore>(kind) ||
         std::holds_alternative<plan::SwiGLU>(kind);
}

}  // namespace

std::string batch_unsupported_reason(const CompiledPlan& compiled, const Pipelines& pipelines) {
  if (std::string reason = batch_kernels_unavailable(pipelines); !reason.empty()) return reason;
  const plan::Plan& plan = compiled.plan();
  for (size_t i = 0; i < compiled.head_begin(); ++i)
    if (!batch_covers(plan.ops[i].kind))
      return fmt::format("no batch kernel for {}", plan::describe(plan.ops[i]));
  return "";
}

CompiledBatch::CompiledBatch(Pipelines& pipelines, const CompiledPlan& compiled, uint32_t capacity)
    : compiled_(compiled), plan_(compiled.plan()) {
  if (std::string reason = batch_unsupported_reason(compiled, pipelines); !reason.empty())
    fail("Vulkan backend: the plan cannot be prefilled in batches: {}", reason);
  const Context& context = pipelines.context();
  const size_t head = compiled.head_begin();

  std::vector<bool> used(plan_.buffers.size(), false);
  uint64_t widest_row = 0;
  for (size_t i = 0; i < head; ++i) {
    std::vector<plan::BufferId> touched = plan::inputs_of(plan_.ops[i]);
    if (std::optional<plan::BufferId> output = plan::output_of(plan_.ops[i]))
      touched.push_back(*output);
    for (plan::BufferId id : touched) {
      used[id.index] = true;
      widest_row = std::max(widest_row, row_bytes(id));
    }
  }
  const uint64_t fitting = widest_row == 0 ? capacity : pipelines.max_binding_bytes() / widest_row;
  // The batch embedding launches one row of workgroups per token.
  const uint64_t launchable = context.info().max_compute_workgroup_count[1];
  capacity_ = static_cast<uint32_t>(std::min<uint64_t>({capacity, fitting, launchable}));
  if (capacity_ == 0)
    fail("Vulkan backend: one token's activations ({} bytes) pass what one binding may cover",
         widest_row);
  buffers_.resize(plan_.buffers.size());
  for (size_t b = 0; b < plan_.buffers.size(); ++b)
    if (used[b])
      buffers_[b].emplace(context, std::max<uint64_t>(capacity_ * row_bytes({uint32_t(b)}), 4),
                          MemoryRole::Activations, "batch " + plan_.buffers[b].name);

  const FusionPlan fusions = plan_fusions(plan_);
  residual_add_.resize(plan_.ops.size());
  folded_.assign(plan_.ops.size(), false);
  for (size_t i = 0; i < head; ++i)
    if (std::optional<size_t> add = fusions.folds[i].residual_add; add && *add < head) {
      residual_add_[i] = add;
      folded_[*add] = true;
    }
  // The products that accumulate into a residual run alone in their step, so they may take the
  // GPU with their columns in two halves (encode_matmul), through one scratch buffer in turn.
  uint64_t scratch_floats = 0;
  for (size_t i = 0; i < head; ++i)
    if (const auto* matvec = std::get_if<plan::MatVec>(&plan_.ops[i].kind);
        matvec && residual_add_[i])
      scratch_floats =
          std::max(scratch_floats,
                   matmul_scratch_floats(pipelines, compiled.matrix(matvec->weight), capacity_));
  if (scratch_floats > 0)
    split_scratch_.emplace(context, float_bytes(scratch_floats), MemoryRole::Activations,
                           "batch mat-mul halves");

  std::vector<bool> written(plan_.buffers.size(), false);
  for (size_t i = head; i < plan_.ops.size(); ++i) {
    for (plan::BufferId id : plan::inputs_of(plan_.ops[i]))
      if (used[id.index] && !written[id.index] &&
          std::find(head_inputs_.begin(), head_inputs_.end(), id) == head_inputs_.end())
        head_inputs_.push_back(id);
    if (std::optional<plan::BufferId> output = plan::output_of(plan_.ops[i]))
      written[output->index] = true;
  }

  inputs_ = Buffer(context, batch_inputs_bytes(capacity_), MemoryRole::Activations, "batch inputs");
  inputs_staging_ =
      Buffer(context, batch_inputs_bytes(capacity_), MemoryRole::Staging, "batch inputs staging");
}

uint64_t CompiledBatch::row_bytes(plan::BufferId id) const {
  return float_bytes(plan_.buffer(id).n_floats);
}

BufferRange CompiledBatch::rows(plan::BufferId id) const {
  return whole(*buffers_.at(id.index));
}

void CompiledBatch::record(CommandSequence& sequence, uint32_t n_tokens, bool logits) const {
  if (n_tokens == 0 || n_tokens > capacity_)
    fail("Vulkan backend: a batch of {} tokens; the batch buffers hold 1 to {}", n_tokens,
         capacity_);
  sequence.set_label("batch inputs", -1);
  sequence.copy(inputs_staging_, 0, inputs_, 0, batch_inputs_bytes(n_tokens));
  for (size_t i = 0; i < compiled_.head_begin(); ++i) {
    const plan::Op& op = plan_.ops[i];
    if (folded_[i]) continue;
    sequence.set_label(fmt::format("batch {} '{}'", plan::kind_name(op.kind), op.name), op.layer);
    std::visit([&](const auto& kind) { record_op(sequence, kind, n_tokens, i); }, op.kind);
  }
  if (!logits) return;
  sequence.set_label("last token to the head", -1);
  for (plan::BufferId id : head_inputs_) {
    const uint64_t bytes = row_bytes(id);
    sequence.copy(*buffers_[id.index], (n_tokens - 1) * bytes, *compiled_.activation(id).buffer, 0,
                  bytes);
  }
  compiled_.record_head(sequence);
}

void CompiledBatch::set_inputs(std::span<const int32_t> tokens, uint32_t pos) {
  if (tokens.empty() || tokens.size() > capacity_)
    fail("Vulkan backend: a batch of {} tokens; the batch buffers hold 1 to {}", tokens.size(),
         capacity_);
  uint8_t* mapped = inputs_staging_.mapped().data();
  const BatchInputs header{pos};
  std::memcpy(mapped, &header, sizeof(header));
  std::memcpy(mapped + sizeof(header), tokens.data(), tokens.size_bytes());
}

void CompiledBatch::record_op(CommandSequence& sequence, const plan::Embed& op, uint32_t n,
                              size_t) const {
  encode_embed_batch(sequence, compiled_.matrix(op.table), whole(inputs_), rows(op.out), n);
}

void CompiledBatch::record_op(CommandSequence& sequence, const plan::RmsNorm& op, uint32_t n,
                              size_t) const {
  encode_rms_norm(sequence, rows(op.in), compiled_.vector_weight(op.weight), rows(op.out),
                  op.n_groups * n, op.group_size, op.eps);
}

void CompiledBatch::record_op(CommandSequence& sequence, const plan::MatVec& op, uint32_t n,
                              size_t index) const {
  if (const std::optional<size_t> add = residual_add_[index]) {
    const auto& residual = std::get<plan::Add>(plan_.ops[*add].kind);
    sequence.set_label(
        fmt::format("batch MatVec '{}' + Add '{}'", plan_.ops[index].name, plan_.ops[*add].name),
        plan_.ops[index].layer);
    std::optional<BufferRange> scratch;
    if (split_scratch_) scratch = whole(*split_scratch_);
    encode_matmul(sequence, compiled_.matrix(op.weight), rows(op.in), rows(residual.out), n,
                  /*accumulate=*/true, scratch);
    return;
  }
  encode_matmul(sequence, compiled_.matrix(op.weight), rows(op.in), rows(op.out), n);
}

void CompiledBatch::record_op(CommandSequence& sequence, const plan::Add& op, uint32_t n,
                              size_t) const {
  encode_add(sequence, rows(op.a), rows(op.b), rows(op.out),
             static_cast<uint32_t>(plan_.buffer(op.out).n_floats * n));
}

void CompiledBatch::record_op(CommandSequence& sequence, const plan::Rope& op, uint32_t n,
                              size_t) const {
  encode_rope_batch(
      sequence, rows(op.buf), whole(inputs_), compiled_.rope_frequencies(op.n_rot, op.theta),
      RopeShape{op.n_heads, op.head_dim, op.n_rot, op.style == plan::RopeStyle::Neox}, n);
}

void CompiledBatch::record_op(CommandSequence& sequence, const plan::KvStore& op, uint32_t n,
                              size_t) const {
  encode_kv_store_batch(sequence, rows(op.k), rows(op.v), compiled_.cache(op.cache), whole(inputs_),
                        n);
}

void CompiledBatch::record_op(CommandSequence& sequence, const plan::Attention& op, uint32_t n,
                              size_t) const {
  encode_attention_batch(sequence, rows(op.q), compiled_.cache(op.cache), whole(inputs_),
                         rows(op.out),
                         AttentionShape{op.n_heads, op.n_kv_heads, op.head_dim, op.scale}, n);
}

void CompiledBatch::record_op(CommandSequence& sequence, const plan::SwiGLU& op, uint32_t n,
                              size_t) const {
  encode_swiglu(sequence, rows(op.gate), rows(op.up), rows(op.out),
                static_cast<uint32_t>(plan_.buffer(op.out).n_floats * n));
}

template <typename Op>
void CompiledBatch::record_op(CommandSequence&, const Op&, uint32_t, size_t index) const {
  fail("Vulkan backend: no batch kernel for {}", plan::describe(plan_.ops[index]));
}

}  // namespace quant::vulkan
