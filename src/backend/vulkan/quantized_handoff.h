#pragma once
// Which dispatches hand their output to the mat-vecs that read it next already quantized
// (kernels.h: MatVecFusions::quantize_output and quantized_x, encode_attention's quantized_out), so
// that those read int8 x instead of each of their workgroups quantizing it again. A llama or qwen3
// layer has four such producers: the attention (for attn_out), attn_out + residual add (for gate +
// up, with ffn_norm's weights), gate + up + SwiGLU (for down), and down + residual add (for the
// next layer's q, k and v, or the output, with their norm's weights); and the embedding feeds the
// first layer's (kernels.h: encode_embed's quantized_out).

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "backend/vulkan/fusion.h"
#include "plan/plan.h"

namespace quant::vulkan {

struct QuantizedHandoff {
  size_t producer = 0;            // the MatVec, Attention or Embed op whose dispatch quantizes its
                                  // output
  std::optional<size_t> norm;     // the RmsNorm op (folded into the consumers) it applies
  std::vector<size_t> consumers;  // the MatVec ops that read the quantized vector
};

// The handoffs between dispatches of `fusions`: a consumer is a MatVec dispatch (not folded) for
// which can_consume holds, reading (through its folded norm, if any) exactly what a MatVec
// dispatch (with no RoPE or KV store after it), an Attention or an Embed for which can_produce
// holds last wrote. All consumers of one producer apply the same norm weights (or none; an
// attention applies none); a consumer that differs keeps quantizing x itself.
std::vector<QuantizedHandoff> plan_quantized_handoffs(
    const plan::Plan& plan, const FusionPlan& fusions,
    const std::function<bool(size_t)>& can_produce, const std::function<bool(size_t)>& can_consume);

}  // namespace quant::vulkan
