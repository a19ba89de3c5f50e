#version 450
#extension GL_GOOGLE_include_directive : require
// y = a + b. y may be a or b.

#include "common.glsl"

layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push { uint n; } pc;

void main() {
  uint i = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  if (i >= pc.n) return;
  y[i] = a[i] + b[i];
}
