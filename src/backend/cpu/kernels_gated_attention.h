#pragma once
// CPU kernels of the ops around qwen35's gated full attention: taking one slice of every head (the
// query and the gate of attn_q's [query_h | gate_h] heads) and the sigmoid output gate.

#include <cstddef>
#include <cstdint>

namespace quant::cpu {

// out[h * size + i] = in[h * in_head_stride + in_offset + i] for h < n_heads, i < size.
void slice_heads(const float* in, float* out, uint32_t n_heads, uint32_t in_head_stride,
                 uint32_t in_offset, uint32_t size);

// out = in * sigmoid(gate) elementwise; out may alias in or gate.
void sigmoid_gate(const float* in, const float* gate, float* out, size_t n);

}  // namespace quant::cpu
