#version 450
#extension GL_GOOGLE_include_directive : require
// Merges attention_partial's chunks of one head (one workgroup per head): with M the largest chunk
// maximum, out = sum_c exp(m_c - M) o_c / sum_c exp(m_c - M) l_c. Each invocation handles head_dim
// elements in turn and recomputes M and the denominator itself (a few chunks; no reduction needed).
// With `quantize` it also quantizes the head for the output projection (quantize_head.glsl).

#include "common.glsl"

layout(binding = 0) readonly buffer Partial { float partial[]; };
DECLARE_STEP_INPUTS(1)
layout(binding = 2) writeonly buffer Output { float y[]; };
layout(binding = 3) writeonly buffer QuantizedOutput { uint quantized_out[]; };

layout(push_constant) uniform Push {
  uint n_heads;
  uint head_dim;
  uint n_chunks;
  uint chunk_len;  // positions per chunk (attention_partial's workgroup width)
  uint capacity;
  uint quantize;  // 1: QUANTIZE_RESULT
} pc;

// The head's output (at most 4 x attention_partial's width, which is this kernel's: the host
// checks), kept for quantize_head.
shared float head_output[4u * WORKGROUP_SIZE];
float head_value(uint i) { return head_output[i]; }
#include "quantize_head.glsl"

void main() {
  uint head = linear_workgroup_id();
  if (head >= pc.n_heads) return;
  uint n_positions = min(step_pos + 1u, pc.capacity);
  uint used = min((n_positions + pc.chunk_len - 1u) / pc.chunk_len, pc.n_chunks);
  uint stride = pc.head_dim + 2u;
  uint base = head * pc.n_chunks * stride;
  float overall_max = LOWEST_FLOAT;
  for (uint c = 0; c < used; ++c) overall_max = max(overall_max, partial[base + c * stride + pc.head_dim]);
  float denominator = 0.0;
  for (uint c = 0; c < used; ++c) {
    uint chunk = base + c * stride + pc.head_dim;
    denominator += exp(partial[chunk] - overall_max) * partial[chunk + 1u];
  }
  for (uint d = gl_LocalInvocationIndex; d < pc.head_dim; d += WORKGROUP_SIZE) {
    float numerator = 0.0;
    for (uint c = 0; c < used; ++c) {
      uint chunk = base + c * stride;
      numerator += exp(partial[chunk + pc.head_dim] - overall_max) * partial[chunk + d];
    }
    y[head * pc.head_dim + d] = numerator / denominator;
    head_output[d] = numerator / denominator;
  }
  if (pc.quantize != 0u) {
    barrier();
    quantize_head(head);
  }
}
