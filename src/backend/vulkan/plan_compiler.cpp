#include "backend/vulkan/plan_compiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <variant>

#include "backend/vulkan/weight_layout.h"
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

// A weight that kernels read as an F32 vector, dequantized.
std::vector<float> dequantized(const plan::WeightRef& weight) {
  std::vector<float> values(weight.n_elements());
  dequantize_rows(weight.type, weight.data.data(), values.data(),
                  static_cast<int64_t>(weight.n_rows()), static_cast<int64_t>(weight.row_length()));
  return values;
}

AttentionShape attention_shape(const plan::Attention& op) {
  return {op.n_heads, op.n_kv_heads, op.head_dim, op.scale};
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
    : plan_(plan), context_length_(context_length), fusions_(plan_fusions(plan)) {
  const Context& context = pipelines.context();
  if (context_length == 0) fail("Vulkan backend: the context length must be positive");
  // The head: the ops after the last layer's, which only lead to the logits.
  head_begin_ = plan.ops.size();
  while (head_begin_ > 0 && plan.ops[head_begin_ - 1].layer < 0) --head_begin_;
  check_supported(plan);
  upload_weights(transfer);
  // A gate/up pair too large for one binding is recorded unfolded.
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    OpFolds& fold = fusions_.folds[i];
    if (!fold.swiglu_up) continue;
    const auto& gate = std::get<plan::MatVec>(plan.ops[i].kind);
    const auto& up = std::get<plan::MatVec>(plan.ops[*fold.swiglu_up].kind);
    if (swiglu_pair_fits(pipelines, matrix(gate.weight), matrix(up.weight))) continue;
    fusions_.folded[*fold.swiglu_up] = false;
    fusions_.folded[*fold.swiglu] = false;
    fold.swiglu_up.reset();
    fold.swiglu.reset();
  }
  unfold_epilogues_that_do_not_fit(pipelines);
  plan_handoffs(pipelines, transfer);
  plan_qkv_matvecs(pipelines, transfer);

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
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const OpFolds& fold = fusions_.folds[i];
    if (!fold.q_rope) continue;
    const auto& rope = std::get<plan::Rope>(plan.ops[*fold.q_rope].kind);
    auto norm_weight = [&](size_t rope_index) {
      const size_t norm = *fusions_.folds[rope_index].norm;
      return dequantized(plan.weight(std::get<plan::RmsNorm>(plan.ops[norm].kind).weight));
    };
    const std::vector<float> constants =
        attention_preparation_constants(norm_weight(*fold.q_rope), norm_weight(*fold.k_rope),
                                        rope_inverse_frequencies(rope.n_rot, rope.theta));
    Buffer buffer(context, float_bytes(constants.size()), MemoryRole::Weights,
                  fmt::format("layer {} q/k norm weights and RoPE frequencies", plan.ops[i].layer));
    transfer.upload(buffer, 0, std::as_bytes(std::span(constants)));
    attention_constants_.emplace(i, std::move(buffer));
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
  weight_buffer_of_.assign(plan_.weights.size(), 0);
  weight_offset_of_.assign(plan_.weights.size(), 0);
  std::vector<bool> placed(plan_.weights.size(), false);
  auto matrix_bytes = [&](const plan::WeightRef& weight) {
    return weight.n_rows() * device_row_bytes(weight.type, weight.row_length());
  };
  // Gate/up pairs of a folded SwiGLU go back to back in one buffer.
  for (const auto& [gate_id, up_id] : fusions_.swiglu_pairs) {
    const plan::WeightRef& gate = plan_.weight(gate_id);
    const plan::WeightRef& up = plan_.weight(up_id);
    const uint64_t gate_bytes = matrix_bytes(gate);
    weight_buffers_.emplace_back(context, gate_bytes + matrix_bytes(up), MemoryRole::Weights,
                                 gate.name + " + " + up.name);
    upload_matrix(transfer, gate, weight_buffers_.back(), 0);
    upload_matrix(transfer, up, weight_buffers_.back(), gate_bytes);
    weight_buffer_of_[gate_id.index] = weight_buffer_of_[up_id.index] = weight_buffers_.size() - 1;
    weight_offset_of_[up_id.index] = gate_bytes;
    placed[gate_id.index] = placed[up_id.index] = true;
  }
  // So do the q, k and v matrices that may run as one mat-vec.
  for (const auto& triple : fusions_.qkv_triples) {
    uint64_t bytes = 0;
    for (plan::WeightId id : triple) bytes += matrix_bytes(plan_.weight(id));
    weight_buffers_.emplace_back(context, bytes, MemoryRole::Weights,
                                 fmt::format("{} + k + v", plan_.weight(triple[0]).name));
    uint64_t offset = 0;
    for (plan::WeightId id : triple) {
      upload_matrix(transfer, plan_.weight(id), weight_buffers_.back(), offset);
      weight_buffer_of_[id.index] = weight_buffers_.size() - 1;
      weight_offset_of_[id.index] = offset;
      placed[id.index] = true;
      offset += matrix_bytes(plan_.weight(id));
    }
  }
  // Tied weights (one tensor under two ids) share one buffer.
  std::map<std::pair<const uint8_t*, bool>, size_t> uploaded;
  for (size_t i = 0; i < plan_.weights.size(); ++i) {
    if (placed[i]) continue;
    const plan::WeightRef& weight = plan_.weights[i];
    auto key = std::make_pair(weight.data.data(), bool(vectors[i]));
    if (auto found = uploaded.find(key); found != uploaded.end()) {
      weight_buffer_of_[i] = found->second;
      continue;
    }
    if (vectors[i]) {
      const std::vector<float> values = dequantized(weight);
      weight_buffers_.emplace_back(context, float_bytes(values.size()), MemoryRole::Weights,
                                   weight.name);
      transfer.upload(weight_buffers_.back(), 0, std::as_bytes(std::span(values)));
    } else {
      weight_buffers_.emplace_back(context, matrix_bytes(weight), MemoryRole::Weights, weight.name);
      upload_matrix(transfer, weight, weight_buffers_.back(), 0);
    }
    uploaded.emplace(key, weight_buffers_.size() - 1);
    weight_buffer_of_[i] = weight_buffers_.size() - 1;
  }
}

// Converts the matrix to the device layout in pieces of a few MiB on the way up.
void CompiledPlan::upload_matrix(Transfer& transfer, const plan::WeightRef& weight,
                                 const Buffer& buffer, uint64_t offset) {
  constexpr uint64_t kPieceBytes = 8ull << 20;
  const uint64_t cols = weight.row_length();
  const uint64_t source_row = *row_bytes(weight.type, cols);
  const uint64_t device_row = device_row_bytes(weight.type, cols);
  const uint64_t rows_per_piece = std::max<uint64_t>(1, kPieceBytes / device_row);
  std::vector<uint8_t> piece;
  for (uint64_t first = 0; first < weight.n_rows(); first += rows_per_piece) {
    const uint64_t rows = std::min(rows_per_piece, weight.n_rows() - first);
    piece.resize(rows * device_row);
    to_device_layout(weight.type, cols, rows,
                     weight.data.subspan(first * source_row, rows * source_row), piece);
    transfer.upload(buffer, offset + first * device_row, std::as_bytes(std::span(piece)));
  }
}

// A mat-vec split over dispatches at an odd row cannot rotate or store its rows
// (matvec_epilogue_fits): its RoPE is recorded on its own, and so is the KV store it takes part in
// (which then stores the keys after their RoPE).
void CompiledPlan::unfold_epilogues_that_do_not_fit(const Pipelines& pipelines) {
  for (size_t i = 0; i < plan_.ops.size(); ++i) {
    OpFolds& fold = fusions_.folds[i];
    const auto* matvec = std::get_if<plan::MatVec>(&plan_.ops[i].kind);
    if (matvec == nullptr || (!fold.rope && !fold.kv_store) ||
        matvec_epilogue_fits(pipelines, matrix(matvec->weight)))
      continue;
    if (fold.rope) fusions_.folded[*fold.rope] = false;
    fold.rope.reset();
    if (!fold.kv_store) continue;
    const size_t store = *fold.kv_store;
    fusions_.folded[store] = false;
    for (OpFolds& other : fusions_.folds)
      if (other.kv_store == store) other.kv_store.reset();
  }
}

void CompiledPlan::plan_handoffs(const Pipelines& pipelines, Transfer& transfer) {
  auto weights_of = [&](size_t index) {
    return matrix(std::get<plan::MatVec>(plan_.ops[index].kind).weight);
  };
  auto can_produce = [&](size_t index) {
    if (const auto* attention = std::get_if<plan::Attention>(&plan_.ops[index].kind))
      return attention_quantizes_output(attention_shape(*attention));
    // The embedding hands its row over (about 1 % of a decode token on the H200: the first layer's
    // mat-vecs stage no x), except to recurrent layers: the handoff's groups of 16 round the first
    // layer's x otherwise than the CPU's and llama.cpp's blocks of 256, and a recurrent state
    // carries that into every later token (tiny-qwen35 Q8_0 against llama.cpp: max error 0.10 ->
    // 0.16, over its bar of 0.15; docs/perf/README.md, v10).
    if (const auto* embed = std::get_if<plan::Embed>(&plan_.ops[index].kind))
      return plan_.states.empty() && embed_quantizes_output(matrix(embed->table));
    return matvec_quantizes_output(pipelines, weights_of(index));
  };
  handoffs_ = plan_quantized_handoffs(plan_, fusions_, can_produce, [&](size_t index) {
    return matvec_reads_quantized_x(pipelines, weights_of(index));
  });
  for (size_t h = 0; h < handoffs_.size(); ++h) {
    const QuantizedHandoff& handoff = handoffs_[h];
    // As many values as the consumers' rows are long.
    const uint64_t rows = weights_of(handoff.consumers.front()).cols;
    handoff_buffers_.emplace_back(
        transfer.context(), quantized_activation_bytes(rows), MemoryRole::Activations,
        fmt::format("'{}' quantized for the next mat-vecs", plan_.ops[handoff.producer].name));
    handoff_of_producer_[handoff.producer] = h;
    for (size_t consumer : handoff.consumers) handoff_of_consumer_[consumer] = h;
  }
  for (const Buffer& buffer : handoff_buffers_) handoff_ranges_.push_back(whole(buffer));
}

namespace {

// Matrices back to back in one buffer (upload_weights) as one, or a WeightMatrix without a buffer
// where they are not.
WeightMatrix back_to_back(const std::array<WeightMatrix, 3>& matrices) {
  WeightMatrix whole = matrices[0];
  for (size_t m = 1; m < matrices.size(); ++m) {
    const uint64_t end = whole.offset + whole.rows * device_row_bytes(whole.type, whole.cols);
    if (matrices[m].buffer != whole.buffer || matrices[m].offset != end ||
        matrices[m].type != whole.type || matrices[m].cols != whole.cols)
      return {};
    whole.rows += matrices[m].rows;
  }
  return whole;
}

}  // namespace

std::array<WeightMatrix, 3> CompiledPlan::qkv_matrices(size_t attention) const {
  std::array<WeightMatrix, 3> matrices;
  const std::array<size_t, 3>& matvecs = *fusions_.folds[attention].qkv_matvecs;
  for (size_t m = 0; m < 3; ++m)
    matrices[m] = matrix(std::get<plan::MatVec>(plan_.ops[matvecs[m]].kind).weight);
  return matrices;
}

void CompiledPlan::plan_qkv_matvecs(const Pipelines& pipelines, Transfer& transfer) {
  const uint64_t alignment = pipelines.context().info().min_storage_buffer_offset_alignment;
  uint64_t most_rows = 0;
  for (size_t i = 0; i < plan_.ops.size(); ++i) {
    const std::optional<std::array<size_t, 3>>& matvecs = fusions_.folds[i].qkv_matvecs;
    if (!matvecs) continue;
    // All three read x from one handoff, or none does; the attention finds q, k and v in the rows
    // at offsets it can bind.
    const auto handoff = [&](size_t m) {
      const auto found = handoff_of_consumer_.find((*matvecs)[m]);
      return found == handoff_of_consumer_.end() ? std::nullopt : std::optional(found->second);
    };
    const std::array<WeightMatrix, 3> matrices = qkv_matrices(i);
    const WeightMatrix whole = back_to_back(matrices);
    if (handoff(1) != handoff(0) || handoff(2) != handoff(0) || whole.buffer == nullptr ||
        float_bytes(matrices[0].rows) % alignment != 0 ||
        float_bytes(matrices[1].rows) % alignment != 0)
      continue;
    for (size_t m : *matvecs) qkv_matvec_attention_[m] = i;
    qkv_matvec_attention_[i] = i;
    most_rows = std::max(most_rows, whole.rows);
  }
  if (most_rows > 0)
    qkv_rows_.emplace(transfer.context(), float_bytes(most_rows), MemoryRole::Activations,
                      "q/k/v rows");
}

std::optional<size_t> CompiledPlan::qkv_matvec_of(size_t index, size_t first_op) const {
  const auto found = qkv_matvec_attention_.find(index);
  if (found == qkv_matvec_attention_.end()) return std::nullopt;
  const std::array<size_t, 3>& matvecs = *fusions_.folds[found->second].qkv_matvecs;
  if (std::min({matvecs[0], matvecs[1], matvecs[2]}) < first_op) return std::nullopt;
  return found->second;
}

const BufferRange* CompiledPlan::quantized_output_of(size_t index) const {
  const auto producer = handoff_of_producer_.find(index);
  return producer == handoff_of_producer_.end() ? nullptr : &handoff_ranges_[producer->second];
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
  return {&weight_buffers_[weight_buffer_of_[id.index]], weight_offset_of_[id.index], weight.type,
          weight.n_rows(), weight.row_length()};
}

BufferRange CompiledPlan::rope_frequencies(uint32_t n_rot, float theta) const {
  return whole(rope_frequencies_.at(std::make_pair(n_rot, theta)));
}

KvCacheRanges CompiledPlan::cache(plan::KvCacheId id) const {
  const KvCacheBuffers& buffers = kv_caches_[id.index];
  return {whole(buffers.keys), whole(buffers.values), buffers.kv_dim, context_length_};
}

void CompiledPlan::record(CommandSequence& sequence, const Buffer* observation, bool logits,
                          uint32_t positions) const {
  const BufferRange staging{&step_staging_, 0, sizeof(StepInputs)};
  record_token(sequence, &staging, logits ? plan_.ops.size() : head_begin_, observation, logits,
               positions);
}

void CompiledPlan::record_chained(CommandSequence& sequence, const BufferRange* step,
                                  uint32_t positions) const {
  record_token(sequence, step, plan_.ops.size(), nullptr, false, positions);
}

BufferRange CompiledPlan::step_inputs() const {
  return whole(step_);
}

void CompiledPlan::record_token(CommandSequence& sequence, const BufferRange* step, size_t end,
                                const Buffer* observation, bool logits, uint32_t positions) const {
  if (positions > context_length_)
    fail("Vulkan plan: a recording for {} positions in a context of {}", positions,
         context_length_);
  if (step != nullptr) {
    if (step->size < sizeof(StepInputs)) fail("Vulkan plan: step inputs of {} bytes", step->size);
    sequence.set_label("token inputs", -1);
    sequence.copy(*step->buffer, step->offset, step_, 0, sizeof(StepInputs));
  }
  record_ops(sequence, 0, end, observation, logits, positions == 0 ? context_length_ : positions);
}

void CompiledPlan::record_head(CommandSequence& sequence) const {
  record_ops(sequence, head_begin_, plan_.ops.size(), nullptr, true, context_length_);
}

void CompiledPlan::record_ops(CommandSequence& sequence, size_t begin, size_t end,
                              const Buffer* observation, bool logits, uint32_t positions) const {
  const bool fold = observation == nullptr;
  for (size_t i = begin; i < end; ++i) {
    const plan::Op& op = plan_.ops[i];
    if (fold && fusions_.folded[i]) continue;
    if (const std::optional<size_t> attention = fold ? qkv_matvec_of(i, begin) : std::nullopt;
        attention && *attention != i) {
      // The three at the first of them.
      const std::array<size_t, 3>& matvecs = *fusions_.folds[*attention].qkv_matvecs;
      if (i == std::min({matvecs[0], matvecs[1], matvecs[2]}))
        record_qkv_matvec(sequence, *attention, begin);
      continue;
    }
    sequence.set_label(fmt::format("{} '{}'", plan::kind_name(op.kind), op.name), op.layer);
    if (fold && std::holds_alternative<plan::MatVec>(op.kind)) {
      record_folded_matvec(sequence, i, begin);
      continue;
    }
    if (fold && std::holds_alternative<plan::Rope>(op.kind)) {
      record_folded_rope(sequence, i);
      continue;
    }
    if (fold && fusions_.folds[i].q_rope) {
      record_folded_attention(sequence, i, begin, positions);
      continue;
    }
    std::visit(
        [&](const auto& kind) {
          if constexpr (std::is_same_v<std::decay_t<decltype(kind)>, plan::Attention>)
            record_attention(sequence, kind, positions, fold ? quantized_output_of(i) : nullptr);
          else if constexpr (std::is_same_v<std::decay_t<decltype(kind)>, plan::Embed>)
            record_embed(sequence, i, fold);
          else
            record_op(sequence, kind);
        },
        op.kind);
    if (observation != nullptr && observation_offsets_[i]) {
      const plan::BufferId output = *plan::output_of(op);
      sequence.copy(activations_[output.index], 0, *observation, *observation_offsets_[i],
                    float_bytes(plan_.buffer(output).n_floats));
    }
  }
  if (!logits) return;
  sequence.set_label("logits read-back", -1);
  sequence.copy(activations_[plan_.logits.index], 0, logits_readback_, 0,
                float_bytes(plan_.n_vocab));
}

void CompiledPlan::record_folded_matvec(CommandSequence& sequence, size_t index,
                                        size_t first_op) const {
  const auto& op = std::get<plan::MatVec>(plan_.ops[index].kind);
  const OpFolds& fold = fusions_.folds[index];
  MatVecFusions fusions;
  BufferRange in = activation(op.in);
  BufferRange out = activation(op.out);
  BufferRange norm_weight;
  std::string label = fmt::format("MatVec '{}'", plan_.ops[index].name);
  if (fold.norm) {
    const auto& norm = std::get<plan::RmsNorm>(plan_.ops[*fold.norm].kind);
    in = activation(norm.in);
    norm_weight = vector_weight(norm.weight);
    fusions.norm_weight = &norm_weight;
    fusions.norm_eps = norm.eps;
    label = fmt::format("RmsNorm '{}' + {}", plan_.ops[*fold.norm].name, label);
  }
  WeightMatrix up;
  if (fold.swiglu_up) {
    up = matrix(std::get<plan::MatVec>(plan_.ops[*fold.swiglu_up].kind).weight);
    fusions.swiglu_up = &up;
    out = activation(std::get<plan::SwiGLU>(plan_.ops[*fold.swiglu].kind).out);
    label += fmt::format(" + MatVec '{}' + SwiGLU", plan_.ops[*fold.swiglu_up].name);
  }
  if (fold.residual_add) {
    out = activation(std::get<plan::Add>(plan_.ops[*fold.residual_add].kind).out);
    fusions.accumulate = true;
    label += fmt::format(" + Add '{}'", plan_.ops[*fold.residual_add].name);
  }
  const BufferRange step = whole(step_);
  fusions.step = &step;
  RopeShape rope_shape;
  BufferRange frequencies;
  if (fold.rope) {
    const auto& rope = std::get<plan::Rope>(plan_.ops[*fold.rope].kind);
    rope_shape = RopeShape{rope.n_heads, rope.head_dim, rope.n_rot, /*neox=*/false};
    frequencies = rope_frequencies(rope.n_rot, rope.theta);
    fusions.rope = &rope_shape;
    fusions.rope_frequencies = &frequencies;
    label += fmt::format(" + Rope '{}'", plan_.ops[*fold.rope].name);
  }
  BufferRange cache_rows;
  if (fold.kv_store) {
    const auto& store = std::get<plan::KvStore>(plan_.ops[*fold.kv_store].kind);
    const KvCacheRanges caches = cache(store.cache);
    const bool keys = op.out == store.k;
    cache_rows = keys ? caches.keys : caches.values;
    fusions.cache = &cache_rows;
    fusions.cache_capacity = caches.capacity;
    label += fmt::format(" + KvStore '{}' ({})", plan_.ops[*fold.kv_store].name,
                         keys ? "keys" : "values");
  }
  BufferRange quantized_x;
  if (auto consumer = handoff_of_consumer_.find(index);
      consumer != handoff_of_consumer_.end() && handoffs_[consumer->second].producer >= first_op) {
    quantized_x = whole(handoff_buffers_[consumer->second]);
    fusions.quantized_x = &quantized_x;
    for (size_t sibling : handoffs_[consumer->second].consumers)
      if (sibling != index)
        fusions.side_by_side_rows =
            std::max(fusions.side_by_side_rows,
                     matrix(std::get<plan::MatVec>(plan_.ops[sibling].kind).weight).rows);
    label += " (x quantized by its producer)";
  }
  BufferRange next_norm_weight;
  if (auto producer = handoff_of_producer_.find(index); producer != handoff_of_producer_.end()) {
    const QuantizedHandoff& handoff = handoffs_[producer->second];
    fusions.quantize_output = quantized_output_of(index);
    if (handoff.norm) {
      next_norm_weight =
          vector_weight(std::get<plan::RmsNorm>(plan_.ops[*handoff.norm].kind).weight);
      fusions.quantize_norm_weight = &next_norm_weight;
    }
    label += " + quantized for the next";
  }
  sequence.set_label(label, plan_.ops[index].layer);
  encode_matvec(sequence, matrix(op.weight), in, out, fusions);
}

void CompiledPlan::record_folded_rope(CommandSequence& sequence, size_t index) const {
  const auto& op = std::get<plan::Rope>(plan_.ops[index].kind);
  const OpFolds& fold = fusions_.folds[index];
  RopeFusions fusions;
  BufferRange norm_weight, values;
  KvCacheRanges kv_cache;
  std::string label = fmt::format("Rope '{}'", plan_.ops[index].name);
  if (fold.norm) {
    const auto& norm = std::get<plan::RmsNorm>(plan_.ops[*fold.norm].kind);
    norm_weight = vector_weight(norm.weight);
    fusions.norm_weight = &norm_weight;
    fusions.norm_eps = norm.eps;
    label = fmt::format("RmsNorm '{}' + {}", plan_.ops[*fold.norm].name, label);
  }
  if (fold.kv_store) {
    const auto& store = std::get<plan::KvStore>(plan_.ops[*fold.kv_store].kind);
    kv_cache = cache(store.cache);
    values = activation(store.v);
    fusions.cache = &kv_cache;
    fusions.values = &values;
    label += fmt::format(" + KvStore '{}'", plan_.ops[*fold.kv_store].name);
  }
  sequence.set_label(label, plan_.ops[index].layer);
  const Buffer& frequencies = rope_frequencies_.at(std::make_pair(op.n_rot, op.theta));
  encode_rope(sequence, activation(op.buf), whole(step_), whole(frequencies),
              RopeShape{op.n_heads, op.head_dim, op.n_rot, op.style == plan::RopeStyle::Neox},
              fusions);
}

void CompiledPlan::record_qkv_matvec(CommandSequence& sequence, size_t index,
                                     size_t first_op) const {
  const std::array<size_t, 3>& matvecs = *fusions_.folds[index].qkv_matvecs;
  const std::array<WeightMatrix, 3> matrices = qkv_matrices(index);
  const auto& q = std::get<plan::MatVec>(plan_.ops[matvecs[0]].kind);
  MatVecFusions fusions;
  fusions.part_rows = std::max({matrices[0].rows, matrices[1].rows, matrices[2].rows});
  BufferRange in = activation(q.in);
  BufferRange norm_weight;
  std::string label;
  for (size_t m = 0; m < 3; ++m)
    label += fmt::format("{}MatVec '{}'", m == 0 ? "" : " + ", plan_.ops[matvecs[m]].name);
  if (const std::optional<size_t> norm = fusions_.folds[matvecs[0]].norm) {
    const auto& norm_op = std::get<plan::RmsNorm>(plan_.ops[*norm].kind);
    in = activation(norm_op.in);
    norm_weight = vector_weight(norm_op.weight);
    fusions.norm_weight = &norm_weight;
    fusions.norm_eps = norm_op.eps;
    label = fmt::format("RmsNorm '{}' + {}", plan_.ops[*norm].name, label);
  }
  BufferRange quantized_x;
  if (auto consumer = handoff_of_consumer_.find(matvecs[0]);
      consumer != handoff_of_consumer_.end() && handoffs_[consumer->second].producer >= first_op) {
    quantized_x = whole(handoff_buffers_[consumer->second]);
    fusions.quantized_x = &quantized_x;
    label += " (x quantized by its producer)";
  }
  sequence.set_label(label, plan_.ops[matvecs[0]].layer);
  encode_matvec(sequence, back_to_back(matrices), in, whole(*qkv_rows_), fusions);
}

void CompiledPlan::record_folded_attention(CommandSequence& sequence, size_t index, size_t first_op,
                                           uint32_t positions) const {
  const auto& op = std::get<plan::Attention>(plan_.ops[index].kind);
  const OpFolds& fold = fusions_.folds[index];
  const auto& q_rope = std::get<plan::Rope>(plan_.ops[*fold.q_rope].kind);
  const auto& q_norm = std::get<plan::RmsNorm>(plan_.ops[*fusions_.folds[*fold.q_rope].norm].kind);
  const auto& k_norm = std::get<plan::RmsNorm>(plan_.ops[*fusions_.folds[*fold.k_rope].norm].kind);
  const auto& store = std::get<plan::KvStore>(plan_.ops[*fold.kv_store].kind);
  BufferRange q = activation(op.q), keys = activation(store.k), values = activation(store.v);
  if (qkv_matvec_of(index, first_op)) {
    // The rows of the q, k and v mat-vecs run as one.
    const std::array<WeightMatrix, 3> matrices = qkv_matrices(index);
    q = {&*qkv_rows_, 0, float_bytes(matrices[0].rows)};
    keys = {&*qkv_rows_, q.size, float_bytes(matrices[1].rows)};
    values = {&*qkv_rows_, q.size + keys.size, float_bytes(matrices[2].rows)};
  }
  const AttentionPreparation preparation{
      keys,       values,       whole(attention_constants_.at(index)), q_norm.eps,
      k_norm.eps, q_rope.n_rot, q_rope.style == plan::RopeStyle::Neox};
  sequence.set_label(
      fmt::format("RmsNorm + Rope '{}' + RmsNorm + Rope '{}' + KvStore '{}' + Attention '{}'",
                  plan_.ops[*fold.q_rope].name, plan_.ops[*fold.k_rope].name,
                  plan_.ops[*fold.kv_store].name, plan_.ops[index].name),
      plan_.ops[index].layer);
  KvCacheRanges attended = cache(op.cache);
  attended.capacity = std::min(attended.capacity, positions);
  encode_attention(sequence, q, attended, whole(step_), whole(*attention_scratch_),
                   activation(op.out), attention_shape(op), &preparation,
                   quantized_output_of(index));
}

void CompiledPlan::record_embed(CommandSequence& sequence, size_t index, bool fold) const {
  const auto& op = std::get<plan::Embed>(plan_.ops[index].kind);
  const auto producer = handoff_of_producer_.find(index);
  if (!fold || producer == handoff_of_producer_.end()) {
    encode_embed(sequence, matrix(op.table), whole(step_), activation(op.out));
    return;
  }
  const QuantizedHandoff& handoff = handoffs_[producer->second];
  BufferRange next_norm_weight;
  if (handoff.norm)
    next_norm_weight = vector_weight(std::get<plan::RmsNorm>(plan_.ops[*handoff.norm].kind).weight);
  sequence.set_label(fmt::format("Embed '{}' + quantized for the next", plan_.ops[index].name),
                     plan_.ops[index].layer);
  encode_embed(sequence, matrix(op.table), whole(step_), activation(op.out),
               quantized_output_of(index), handoff.norm ? &next_norm_weight : nullptr);
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

void CompiledPlan::record_attention(CommandSequence& sequence, const plan::Attention& op,
                                    uint32_t positions, const BufferRange* quantized_out) const {
  KvCacheRanges attended = cache(op.cache);
  attended.capacity = std::min(attended.capacity, positions);
  encode_attention(sequence, activation(op.q), attended, whole(step_), whole(*attention_scratch_),
                   activation(op.out), attention_shape(op), nullptr, quantized_out);
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
