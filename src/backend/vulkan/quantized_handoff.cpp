#include "backend/vulkan/quantized_handoff.h"

#include <variant>

namespace quant::vulkan {

namespace {

// The buffer the dispatch of MatVec, Attention or Embed op `index` writes last (a mat-vec's
// residual add's or SwiGLU's output), or nullopt when a mat-vec's epilogue rotates or stores the
// rows.
std::optional<plan::BufferId> dispatch_output(const plan::Plan& plan, const FusionPlan& fusions,
                                              size_t index) {
  if (const auto* attention = std::get_if<plan::Attention>(&plan.ops[index].kind))
    return attention->out;
  if (const auto* embed = std::get_if<plan::Embed>(&plan.ops[index].kind)) return embed->out;
  const OpFolds& fold = fusions.folds[index];
  if (fold.rope || fold.kv_store) return std::nullopt;
  if (fold.residual_add) return std::get<plan::Add>(plan.ops[*fold.residual_add].kind).out;
  if (fold.swiglu) return std::get<plan::SwiGLU>(plan.ops[*fold.swiglu].kind).out;
  return std::get<plan::MatVec>(plan.ops[index].kind).out;
}

// The MatVec, Attention or Embed op whose dispatch computes op `index`: itself, or the mat-vec it
// is folded into as a residual add or a SwiGLU.
std::optional<size_t> computing_dispatch(const plan::Plan& plan, const FusionPlan& fusions,
                                         size_t index) {
  if (!fusions.folded[index]) {
    const plan::OpKind& kind = plan.ops[index].kind;
    const bool producer_kind = std::holds_alternative<plan::MatVec>(kind) ||
                               std::holds_alternative<plan::Attention>(kind) ||
                               std::holds_alternative<plan::Embed>(kind);
    return producer_kind ? std::optional(index) : std::nullopt;
  }
  for (size_t i = 0; i < index; ++i)
    if (fusions.folds[i].residual_add == index || fusions.folds[i].swiglu == index) return i;
  return std::nullopt;
}

std::optional<size_t> last_writer(const plan::Plan& plan, size_t index, plan::BufferId buffer) {
  for (size_t i = index; i-- > 0;)
    if (plan::output_of(plan.ops[i]) == std::optional(buffer)) return i;
  return std::nullopt;
}

// Whether two consumers' folded norms (or their absence) weight x alike.
bool same_norm(const plan::Plan& plan, std::optional<size_t> a, std::optional<size_t> b) {
  if (!a || !b) return a == b;
  const auto& first = std::get<plan::RmsNorm>(plan.ops[*a].kind);
  const auto& second = std::get<plan::RmsNorm>(plan.ops[*b].kind);
  return first.weight == second.weight && first.eps == second.eps;
}

}  // namespace

std::vector<QuantizedHandoff> plan_quantized_handoffs(
    const plan::Plan& plan, const FusionPlan& fusions,
    const std::function<bool(size_t)>& can_produce,
    const std::function<bool(size_t)>& can_consume) {
  std::vector<QuantizedHandoff> handoffs;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const auto* matvec = std::get_if<plan::MatVec>(&plan.ops[i].kind);
    if (matvec == nullptr || fusions.folded[i] || !can_consume(i)) continue;
    const std::optional<size_t> norm = fusions.folds[i].norm;
    const plan::BufferId x = norm ? std::get<plan::RmsNorm>(plan.ops[*norm].kind).in : matvec->in;
    const std::optional<size_t> writer = last_writer(plan, i, x);
    if (!writer) continue;
    const std::optional<size_t> producer = computing_dispatch(plan, fusions, *writer);
    if (!producer || dispatch_output(plan, fusions, *producer) != std::optional(x) ||
        !can_produce(*producer))
      continue;
    if (norm && std::holds_alternative<plan::Attention>(plan.ops[*producer].kind)) continue;
    QuantizedHandoff* handoff = nullptr;
    for (QuantizedHandoff& existing : handoffs)
      if (existing.producer == *producer) handoff = &existing;
    if (handoff == nullptr) handoff = &handoffs.emplace_back(QuantizedHandoff{*producer, norm, {}});
    if (same_norm(plan, handoff->norm, norm)) handoff->consumers.push_back(i);
  }
  return handoffs;
}

}  // namespace quant::vulkan
