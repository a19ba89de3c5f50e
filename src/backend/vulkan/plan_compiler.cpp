#include "backend/vulkan/plan_compiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <variant>

#include "common/error.h"

namespace quant::vulkan {

namespace {

uint64_t float_bytes(uint64_t n) {
  return n * sizeof(float);
}

// The weights that kernels read as plain F32 vectors (norm scales, convolution taps, DeltaNet
// gates), as opposed to matrices read in their stored type.
std::vector<bool> vector_weights(const plan::Plan& plan) {
  std::vector<bool> used(plan.weights.size(), false);
  for (const plan::Op& op : plan.ops) {
    if (const auto* norm = std::get_if<plan::RmsNorm>(&op.kind)) used[norm->weight.index] = true;
    if (const auto* conv = std::get_if<plan::CausalConv1dSilu>(&op.kind))
      used[conv->weight.index] = true;
    if (const auto* delta = std::get_if<plan::GatedDeltaNet>(&op.kind)) {
      used[delta->a.index] = true;
      used[delta->dt_bias.index] = true;
    }
  }
  return used;
}

// Checks, before anything is allocated, that every op has a kernel for its weights.
void check_supported(const plan::Plan& plan) {
  for (const plan::Op& op : plan.ops) {
    std::optional<plan::WeightId> weight;
    if (const auto* embed = std::get_if<plan::Embed>(&op.kind)) weight = embed->table;
    if (const auto* matvec = std::get_if<plan::MatVec>(&op.kind)) weight = matvec->weight;
    if (weight && !weight_type_supported(plan.weight(*weight).type))
      fail("Vulkan backend: {} reads {} weights '{}', which no Vulkan kernel reads",
           plan::describe(op), type_traits(plan.weight(*weight).type).name,
           plan.weight(*weight).name);
  }
}

}  // namespace

CompiledPlan::CompiledPlan(Pipelines& pipelines, Transfer& transfer, const plan::Plan& plan,
                           uint32_t context_length)
    : plan_(plan), context_length_(context_length) {
  const Context& context = pipelines.context();
  if (context_length == 0) fail("Vulkan backend: the context length must be positive");
  check_supported(plan);
  upload_weights(transfer);

  for (const plan::BufferDecl& buffer : plan.buffers)
    activations_.emplace_back(context, float_bytes(std::max<uint64_t>(buffer.n_floats, 1)),
                              MemoryRole::Activations, buffer.name);
  for (const plan::KvCacheDecl& decl : plan.kv_caches) {
    const uint32_t kv_dim = decl.n_kv_heads * decl.head_dim;
    const uint64_t bytes = float_bytes(uint64_t{context_length} * kv_dim);
    if (bytes > pipelines.max_binding_bytes())
      fail(
          "Vulkan backend: the layer {} KV cache takes {} bytes for {} positions, more than one "
          "binding may cover ({}): use a shorter context",
          decl.layer, bytes, context_length, pipelines.max_binding_bytes());
    std::string name = fmt::format("layer {} KV cache", decl.layer);
    kv_caches_.push_back({Buffer(context, bytes, MemoryRole::Activations, name + " keys"),
                          Buffer(context, bytes, MemoryRole::Activations, name + " values"),
                          kv_dim});
  }

  for (const plan::StateDecl& decl : plan.states) {
    states_.emplace_back(context, float_bytes(std::max<uint64_t>(decl.n_floats, 1)),
                         MemoryRole::Activations,
                         fmt::format("layer {} {}", decl.layer, decl.name));
  }
  reset_states(transfer);

  uint64_t scratch_floats = 0;
  for (const plan::Op& op : plan.ops) {
    if (const auto* rope = std::get_if<plan::Rope>(&op.kind)) {
      auto key = std::make_pair(rope->n_rot, rope->theta);
      if (!rope_frequencies_.contains(key)) {
        std::vector<float> frequencies = rope_inverse_frequencies(rope->n_rot, rope->theta);
        Buffer buffer(context, float_bytes(frequencies.size()), MemoryRole::Weights,
                      "RoPE frequencies");
        transfer.upload(buffer, 0, std::as_bytes(std::span(frequencies)));
        rope_frequencies_.emplace(key, std::move(buffer));
      }
    }
    if (const auto* attention = std::get_if<plan::Attention>(&op.kind)) {
      AttentionShape shape{attention->n_heads, attention->n_kv_heads, attention->head_dim,
                           attention->scale};
      scratch_floats =
          std::max(scratch_floats, attention_scratch_floats(pipelines, shape, context_length));
    }
  }
  if (scratch_floats > 0)
    attention_scratch_.emplace(context, float_bytes(scratch_floats), MemoryRole::Activations,
                               "attention scratch");

  step_ = Buffer(context, sizeof(StepInputs), MemoryRole::Activations, "step inputs");
  step_staging_ = Buffer(context, sizeof(StepInputs), MemoryRole::Staging, "step inputs staging");
  logits_readback_ =
      Buffer(context, float_bytes(plan.n_vocab), MemoryRole::Staging, "logits readback");

  for (const plan::Op& op : plan.ops) {
    std::optional<plan::BufferId> output = plan::output_of(op);
    observation_offsets_.push_back(output ? std::optional(observation_bytes_) : std::nullopt);
    if (output) observation_bytes_ += (float_bytes(plan.buffer(*output).n_floats) + 15) / 16 * 16;
  }
}

void CompiledPlan::upload_weights(Transfer& transfer) {
  const Context& context = transfer.context();
  const std::vector<bool> vectors = vector_weights(plan_);
  // Tied weights (one tensor under two ids) share one buffer.
  std::map<std::pair<const uint8_t*, bool>, size_t> uploaded;
  for (size_t i = 0; i < plan_.weights.size(); ++i) {
    const plan::WeightRef& weight = plan_.weights[i];
    auto key = std::make_pair(weight.data.data(), bool(vectors[i]));
    if (auto found = uploaded.find(key); found != uploaded.end()) {
      weight_buffer_of_.push_back(found->second);
      continue;
    }
    if (vectors[i] && weight.type != TensorType::F32) {
      std::vector<float> values(weight.n_elements());
      dequantize_rows(weight.type, weight.data.data(), values.data(),
                      static_cast<int64_t>(weight.n_rows()),
                      static_cast<int64_t>(weight.row_length()));
      weight_buffers_.emplace_back(context, float_bytes(values.size()), MemoryRole::Weights,
                                   weight.name);
      transfer.upload(weight_buffers_.back(), 0, std::as_bytes(std::span(values)));
    } else {
      weight_buffers_.emplace_back(context, weight.data.size(), MemoryRole::Weights, weight.name);
      transfer.upload(weight_buffers_.back(), 0, std::as_bytes(weight.data));
    }
    uploaded.emplace(key, weight_buffers_.size() - 1);
    weight_buffer_of_.push_back(weight_buffers_.size() - 1);
  }
}

void CompiledPlan::reset_states(Transfer& transfer) {
  for (const Buffer& state : states_) transfer.fill_zero(state);
}

BufferRange CompiledPlan::vector_weight(plan::WeightId id) const {
  return whole(weight_buffers_[weight_buffer_of_[id.index]]);
}

BufferRange CompiledPlan::activation(plan::BufferId id) const {
  return whole(activations_[id.index]);
}

WeightMatrix CompiledPlan::matrix(plan::WeightId id) const {
  const plan::WeightRef& weight = plan_.weight(id);
  return {&weight_buffers_[weight_buffer_of_[id.index]], 0, weight.type, weight.n_rows(),
          weight.row_length()};
}

KvCacheRanges CompiledPlan::cache(plan::KvCacheId id) const {
  const KvCacheBuffers& buffers = kv_caches_[id.index];
  return {whole(buffers.keys), whole(buffers.values), buffers.kv_dim, context_length_};
}

void CompiledPlan::record(CommandSequence& sequence, const Buffer* observation) const {
  sequence.set_label("token inputs", -1);
  sequence.copy(step_staging_, 0, step_, 0, sizeof(StepInputs));
  for (size_t i = 0; i < plan_.ops.size(); ++i) {
    const plan::Op& op = plan_.ops[i];
    sequence.set_label(fmt::format("{} '{}'", plan::kind_name(op.kind), op.name), op.layer);
    std::visit([&](const auto& kind) { record_op(sequence, kind); }, op.kind);
    if (observation != nullptr && observation_offsets_[i]) {
      const plan::BufferId output = *plan::output_of(op);
      sequence.copy(activations_[output.index], 0, *observation, *observation_offsets_[i],
                    float_bytes(plan_.buffer(output).n_floats));
    }
  }
  sequence.set_label("logits read-back", -1);
  sequence.copy(activations_[plan_.logits.index], 0, logits_readback_, 0,
                float_bytes(plan_.n_vocab));
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::Embed& op) const {
  encode_embed(sequence, matrix(op.table), whole(step_), activation(op.out));
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::RmsNorm& op) const {
  encode_rms_norm(sequence, activation(op.in), vector_weight(op.weight), activation(op.out),
                  op.n_groups, op.group_size, op.eps);
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::MatVec& op) const {
  encode_matvec(sequence, matrix(op.weight), activation(op.in), activation(op.out));
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::Add& op) const {
  encode_add(sequence, activation(op.a), activation(op.b), activation(op.out),
             static_cast<uint32_t>(plan_.buffer(op.out).n_floats));
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::Rope& op) const {
  const Buffer& frequencies = rope_frequencies_.at(std::make_pair(op.n_rot, op.theta));
  encode_rope(sequence, activation(op.buf), whole(step_), whole(frequencies),
              RopeShape{op.n_heads, op.head_dim, op.n_rot, op.style == plan::RopeStyle::Neox});
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::KvStore& op) const {
  encode_kv_store(sequence, activation(op.k), activation(op.v), cache(op.cache), whole(step_));
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::Attention& op) const {
  encode_attention(sequence, activation(op.q), cache(op.cache), whole(step_),
                   whole(*attention_scratch_), activation(op.out),
                   AttentionShape{op.n_heads, op.n_kv_heads, op.head_dim, op.scale});
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::SwiGLU& op) const {
  encode_swiglu(sequence, activation(op.gate), activation(op.up), activation(op.out),
                static_cast<uint32_t>(plan_.buffer(op.out).n_floats));
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::SliceHeads& op) const {
  encode_slice_heads(sequence, activation(op.in), activation(op.out),
                     SliceShape{op.n_heads, op.in_head_stride, op.in_offset, op.size});
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::SigmoidGate& op) const {
  encode_sigmoid_gate(sequence, activation(op.in), activation(op.gate), activation(op.out),
                      static_cast<uint32_t>(plan_.buffer(op.out).n_floats));
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::CausalConv1dSilu& op) const {
  encode_causal_conv1d_silu(sequence, activation(op.in), vector_weight(op.weight),
                            whole(states_[op.state.index]), activation(op.out), op.n_channels,
                            op.kernel);
}

void CompiledPlan::record_op(CommandSequence& sequence, const plan::GatedDeltaNet& op) const {
  const DeltaNetGates gates{activation(op.alpha_in), activation(op.beta_in), vector_weight(op.a),
                            vector_weight(op.dt_bias)};
  encode_gated_delta_net(
      sequence, activation(op.qkv), gates, whole(states_[op.state.index]), activation(op.out),
      DeltaNetShape{op.n_k_heads, op.n_v_heads, op.head_k_dim, op.head_v_dim, op.eps});
}

void CompiledPlan::set_step(int32_t token, uint32_t pos) {
  const StepInputs step{static_cast<uint32_t>(token), pos};
  std::memcpy(step_staging_.mapped().data(), &step, sizeof(step));
}

std::span<const float> CompiledPlan::logits() const {
  return {reinterpret_cast<const float*>(logits_readback_.mapped().data()), plan_.n_vocab};
}

}  // namespace quant::vulkan
