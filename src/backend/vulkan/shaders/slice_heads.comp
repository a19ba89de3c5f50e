#version 450
#extension GL_GOOGLE_include_directive : require
// out[h * size + i] = in[h * in_head_stride + in_offset + i] for h < n_heads, i < size: the same slice
// of every head. One invocation per output value.

#include "common.glsl"

layout(binding = 0) readonly buffer Input { float x[]; };
layout(binding = 1) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push {
  uint n_heads;
  uint in_head_stride;
  uint in_offset;
  uint size;
} pc;

void main() {
  uint i = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  if (i >= pc.n_heads * pc.size) return;
  uint head = i / pc.size;
  y[i] = x[head * pc.in_head_stride + pc.in_offset + i % pc.size];
}
