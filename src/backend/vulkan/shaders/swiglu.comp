#version 450
#extension GL_GOOGLE_include_directive : require
// y = silu(gate) * up, silu(g) = g / (1 + exp(-g)). y may be gate or up.

#include "common.glsl"

layout(binding = 0) readonly buffer Gate { float gate[]; };
layout(binding = 1) readonly buffer Up { float up[]; };
layout(binding = 2) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push { uint n; } pc;

void main() {
  uint i = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  if (i >= pc.n) return;
  float g = gate[i];
  y[i] = g / (1.0 + exp(-g)) * up[i];
}
