#version 450
#extension GL_GOOGLE_include_directive : require
// Causal attention of one query token, split over the KV positions (flash-decoding): workgroup
// (chunk, head) takes positions chunk * WORKGROUP_SIZE .. + WORKGROUP_SIZE - 1 (only those <= step_pos)
// and writes, for its head, the unnormalized weighted sum of V over them with the chunk's score maximum
// m and softmax denominator l: partial[head][chunk] = {o[0 .. head_dim - 1], m, l}. attention_combine
// merges the chunks. Chunks past step_pos write nothing (the combine step does not read them), so one
// recorded dispatch serves every position up to the cache's capacity.

#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) readonly buffer Query { float q[]; };
layout(binding = 1) readonly buffer KeyCache { float k_cache[]; };
layout(binding = 2) readonly buffer ValueCache { float v_cache[]; };
DECLARE_STEP_INPUTS(3)
layout(binding = 4) writeonly buffer Partial { float partial[]; };

layout(push_constant) uniform Push {
  uint n_heads;
  uint n_kv_heads;
  uint head_dim;
  uint n_chunks;
  uint capacity;  // positions the caches hold
  float scale;
} pc;

shared float weights[WORKGROUP_SIZE];

void main() {
  uint chunk = gl_WorkGroupID.x;
  uint head = gl_WorkGroupID.y;
  uint lane = gl_LocalInvocationIndex;
  uint n_positions = min(step_pos + 1u, pc.capacity);
  uint first = chunk * WORKGROUP_SIZE;
  if (first >= n_positions) return;  // the whole workgroup leaves together
  uint count = min(WORKGROUP_SIZE, n_positions - first);
  uint kv_dim = pc.n_kv_heads * pc.head_dim;
  uint kv_offset = (head / (pc.n_heads / pc.n_kv_heads)) * pc.head_dim;
  uint q_offset = head * pc.head_dim;

  float score = LOWEST_FLOAT;
  if (lane < count) {
    uint key = (first + lane) * kv_dim + kv_offset;
    float dot_product = 0.0;
    for (uint d = 0; d < pc.head_dim; ++d) dot_product += q[q_offset + d] * k_cache[key + d];
    score = dot_product * pc.scale;
  }
  float chunk_max = workgroup_max(score);
  float weight = lane < count ? exp(score - chunk_max) : 0.0;
  weights[lane] = weight;
  float chunk_sum = workgroup_sum(weight);  // its barrier also publishes `weights`

  uint out_base = (head * pc.n_chunks + chunk) * (pc.head_dim + 2u);
  for (uint d = lane; d < pc.head_dim; d += WORKGROUP_SIZE) {
    float acc = 0.0;
    uint value = first * kv_dim + kv_offset + d;
    for (uint j = 0; j < count; ++j) acc += weights[j] * v_cache[value + j * kv_dim];
    partial[out_base + d] = acc;
  }
  if (lane == 0u) {
    partial[out_base + pc.head_dim] = chunk_max;
    partial[out_base + pc.head_dim + 1u] = chunk_sum;
  }
}
