#version 450
#extension GL_GOOGLE_include_directive : require
// Copies the keys and values of a batch's n_tokens tokens (kv_dim floats each, token after token)
// into rows batch_pos .. batch_pos + n_tokens - 1 of the caches. Rows at or past the cache's capacity
// are not written (the host refuses them before submitting).

#include "common.glsl"
#include "batch.glsl"

layout(binding = 0) readonly buffer Keys { float k[]; };
layout(binding = 1) readonly buffer Values { float v[]; };
layout(binding = 2) writeonly buffer KeyCache { float k_cache[]; };
layout(binding = 3) writeonly buffer ValueCache { float v_cache[]; };
DECLARE_BATCH_INPUTS(4)

layout(push_constant) uniform Push {
  uint kv_dim;
  uint capacity;  // positions the caches hold
  uint n_tokens;
} pc;

void main() {
  uint i = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  if (i >= pc.n_tokens * pc.kv_dim) return;
  uint position = batch_pos + i / pc.kv_dim;
  if (position >= pc.capacity) return;
  uint row = position * pc.kv_dim + i % pc.kv_dim;
  k_cache[row] = k[i];
  v_cache[row] = v[i];
}
