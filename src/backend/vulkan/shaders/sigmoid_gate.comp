#version 450
#extension GL_GOOGLE_include_directive : require
// y = x * sigmoid(gate), sigmoid(g) = 1 / (1 + exp(-g)). y may be x or gate.

#include "common.glsl"

layout(binding = 0) readonly buffer Input { float x[]; };
layout(binding = 1) readonly buffer Gate { float gate[]; };
layout(binding = 2) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push { uint n; } pc;

void main() {
  uint i = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  if (i >= pc.n) return;
  y[i] = x[i] / (1.0 + exp(-gate[i]));
}
