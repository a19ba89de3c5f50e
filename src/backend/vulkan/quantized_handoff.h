#pragma once
// Which mat-vec dispatches hand their output to the mat-vecs that read it next already quantized
// (kernels.h: MatVecFusions::quantize_output and quantized_x), so that those read int8 x instead of
// each of their workgroups quantizing it again. A llama or qwen3 layer has three such producers:
// attn_out + residual add (for gate + up, with ffn_norm's weights), gate + up + SwiGLU (for down),
// and down + residual add (for the next layer's q, k and v, or the output, with their norm's
// weights).

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "backend/vulkan/fusion.h"
#include "plan/plan.h"

namespace quant::vulkan {

struct QuantizedHandoff {
  size_t producer = 0;            // the MatVec op whose dispatch quantizes what it writes
  std::optional<size_t> norm;     // the RmsNorm op (folded into the consumers) it applies
  std::vector<size_t> consumers;  // the MatVec ops that read the quantized vector
};

// The handoffs between dispatches of `fusions`: a consumer is a MatVec dispatch (not folded) for
// which can_consume holds, reading (through its folded norm, if any) exactly what a MatVec dispatch
// for which can_produce holds last wrote, with no RoPE or KV store after it. All consumers of one
// producer apply the same norm weights (or none); a consumer that differs from the first keeps
// quantizing x itself.
std::vector<QuantizedHandoff> plan_quantized_handoffs(
    const plan::Plan& plan, const FusionPlan& fusions,
    const std::function<bool(size_t)>& can_produce, const std::function<bool(size_t)>& can_consume);

}  // namespace quant::vulkan
