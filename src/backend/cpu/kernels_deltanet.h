#pragma once
// CPU kernels of the recurrent ops of Gated DeltaNet layers (qwen35): the causal short convolution
// and the gated delta rule. Plain pointers and sizes, like kernels.h; the math is in the comments
// of plan::CausalConv1dSilu and plan::GatedDeltaNet.

#include <cstddef>
#include <cstdint>

namespace quant::cpu {

// Channels [channel_begin, channel_end) of plan::CausalConv1dSilu for n_tokens consecutive tokens:
// token b reads in + b * in_stride and writes out + b * out_stride (n_channels values each).
// `weight` has n_channels rows of `kernel` taps, oldest first; `state` ((kernel - 1) x n_channels,
// oldest input first) is read and, for these channels, left holding the last kernel - 1 inputs.
void causal_conv1d_silu(const float* in, size_t in_stride, const float* weight, float* state,
                        float* out, size_t out_stride, uint32_t n_tokens, uint32_t n_channels,
                        uint32_t kernel, uint32_t channel_begin, uint32_t channel_end);

// The decay exponent g = a * softplus(alpha + dt_bias) of one DeltaNet head (always <= 0 for a <=
// 0); softplus(x) is taken as x for x > 20, as ggml does.
float delta_net_decay(float a, float alpha, float dt_bias);

// 1 / (1 + exp(-x)).
float sigmoid(float x);

// One token of one V head of plan::GatedDeltaNet: q and k are the head's Q/K values before the L2
// normalization (head_k_dim each), v its values (head_v_dim), g its decay exponent and beta its
// mixing rate. S (`state`, head_k_dim x head_v_dim, row-major) is updated in place and out gets
// S^T q (head_v_dim values). `scratch` holds head_v_dim floats.
void gated_delta_net_head(const float* q, const float* k, const float* v, float g, float beta,
                          float eps, uint32_t head_k_dim, uint32_t head_v_dim, float* state,
                          float* scratch, float* out);

}  // namespace quant::cpu
