#version 450
#extension GL_GOOGLE_include_directive : require
// Causal attention of one query token, split over the KV positions (flash-decoding): workgroup
// (chunk, head) takes positions chunk * chunk_len .. + chunk_len - 1 (only those <= step_pos), in
// passes of WORKGROUP_SIZE positions with a running softmax, and writes, for its head, the
// unnormalized weighted sum of V over them with the chunk's score maximum m and softmax denominator
// l: partial[head][chunk] = {o[0 .. head_dim - 1], m, l}. attention_combine merges the chunks. With
// a single chunk (FINAL) it writes the normalized result to `out` itself and no combine follows.
// Chunks past step_pos write nothing, so one recorded dispatch serves every position up to the
// cache's capacity.

#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) readonly buffer Query { vec4 q[]; };
layout(binding = 1) readonly buffer KeyCache { vec4 k_cache[]; };
layout(binding = 2) readonly buffer ValueCache { vec4 v_cache[]; };
DECLARE_STEP_INPUTS(3)
layout(binding = 4) writeonly buffer Partial { float partial[]; };
layout(binding = 5) writeonly buffer Output { vec4 out_heads[]; };

layout(push_constant) uniform Push {
  uint n_heads;
  uint n_kv_heads;
  uint head_dim;  // a multiple of 4, at most 4 * WORKGROUP_SIZE (checked by the host)
  uint n_chunks;
  uint capacity;  // positions the caches hold
  float scale;
  uint chunk_len;  // positions per chunk, a multiple of WORKGROUP_SIZE
  uint final;      // 1: a single chunk, normalized into out_heads
} pc;

// Vectors of a key, or positions of the value sum, each invocation loads before it uses them.
const uint UNROLL = 8;

shared float weights[WORKGROUP_SIZE];
shared vec4 group_sums[WORKGROUP_SIZE];

void main() {
  uint chunk = gl_WorkGroupID.x;
  uint head = gl_WorkGroupID.y;
  uint lane = gl_LocalInvocationIndex;
  uint n_positions = min(step_pos + 1u, pc.capacity);
  uint first = chunk * pc.chunk_len;
  if (first >= n_positions) return;  // the whole workgroup leaves together
  uint end = min(first + pc.chunk_len, n_positions);
  uint dim4 = pc.head_dim / 4u;
  uint kv_dim4 = pc.n_kv_heads * dim4;
  uint kv_offset4 = (head / (pc.n_heads / pc.n_kv_heads)) * dim4;
  uint q_offset4 = head * dim4;
  // Values: invocation (group, d) sums positions group, group + groups, ... of each pass for vec4
  // d of the head; group 0 adds the groups' sums at the end.
  uint groups = max(WORKGROUP_SIZE / dim4, 1u);
  uint group = lane / dim4;
  uint d = lane % dim4;

  float running_max = LOWEST_FLOAT;
  float running_sum = 0.0;
  vec4 acc = vec4(0.0);
  for (uint start = first; start < end; start += WORKGROUP_SIZE) {
    uint count = min(WORKGROUP_SIZE, end - start);
    // Scores: one position per invocation, its key read as vec4s.
    float score = LOWEST_FLOAT;
    if (lane < count) {
      uint key = (start + lane) * kv_dim4 + kv_offset4;
      vec4 dot4 = vec4(0.0);
      // UNROLL vectors of the key at a time, all loaded before any is used: a load used right
      // away would wait out the memory latency once per vector.
      for (uint i = 0; i < dim4; i += UNROLL) {
        vec4 keys[UNROLL];
        for (uint u = 0; u < UNROLL; ++u) keys[u] = k_cache[key + min(i + u, dim4 - 1u)];
        for (uint u = 0; u < UNROLL; ++u)
          if (i + u < dim4) dot4 += q[q_offset4 + i + u] * keys[u];
      }
      score = dot(dot4, vec4(1.0)) * pc.scale;
    }
    float new_max = max(running_max, workgroup_max(score));
    float correction = exp(running_max - new_max);  // 0 on the first pass
    float weight = lane < count ? exp(score - new_max) : 0.0;
    barrier();  // the previous pass has finished reading `weights`
    weights[lane] = weight;
    barrier();
    running_sum = running_sum * correction + workgroup_sum(weight);
    running_max = new_max;
    acc *= correction;
    if (group < groups) {
      uint value = start * kv_dim4 + kv_offset4 + d;
      // UNROLL positions at a time, loaded first (as the keys above).
      for (uint j = group; j < count; j += UNROLL * groups) {
        vec4 values[UNROLL];
        for (uint u = 0; u < UNROLL; ++u)
          values[u] = v_cache[value + min(j + u * groups, count - 1u) * kv_dim4];
        for (uint u = 0; u < UNROLL; ++u)
          if (j + u * groups < count) acc += weights[j + u * groups] * values[u];
      }
    }
  }
  group_sums[lane] = acc;
  barrier();
  if (lane < dim4) {
    vec4 total = vec4(0.0);
    for (uint g = 0; g < groups; ++g) total += group_sums[g * dim4 + lane];
    if (pc.final != 0u) {
      out_heads[q_offset4 + lane] = total / running_sum;
    } else {
      uint out_base = (head * pc.n_chunks + chunk) * (pc.head_dim + 2u);
      for (uint i = 0; i < 4u; ++i) partial[out_base + 4u * lane + i] = total[i];
    }
  }
  if (lane == 0u && pc.final == 0u) {
    uint out_base = (head * pc.n_chunks + chunk) * (pc.head_dim + 2u);
    partial[out_base + pc.head_dim] = running_max;
    partial[out_base + pc.head_dim + 1u] = running_sum;
  }
}
