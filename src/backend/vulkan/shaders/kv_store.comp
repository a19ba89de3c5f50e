#version 450
#extension GL_GOOGLE_include_directive : require
// Copies this token's keys and values (kv_dim floats each) into row step_pos of the caches. Positions
// at or past the cache's capacity are not written (the host refuses them before submitting).

#include "common.glsl"

layout(binding = 0) readonly buffer Keys { float k[]; };
layout(binding = 1) readonly buffer Values { float v[]; };
layout(binding = 2) writeonly buffer KeyCache { float k_cache[]; };
layout(binding = 3) writeonly buffer ValueCache { float v_cache[]; };
DECLARE_STEP_INPUTS(4)

layout(push_constant) uniform Push {
  uint kv_dim;
  uint capacity;  // positions the caches hold
} pc;

void main() {
  uint i = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  if (i >= pc.kv_dim || step_pos >= pc.capacity) return;
  k_cache[step_pos * pc.kv_dim + i] = k[i];
  v_cache[step_pos * pc.kv_dim + i] = v[i];
}
