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
// With QK_NORM_ROPE_STORE (the "attention_partial_rope_store" variant) the dispatch also does what
// rope.comp with NORM and STORE otherwise does in a step before it (qwen3's q/k norms, the RoPE,
// the KV store): q, k and v are this token's raw mat-vec outputs. Each workgroup normalizes and
// rotates its query head into shared memory; the workgroups whose chunk holds step_pos do the same
// for the key of their KV head and use that key and the raw value for position step_pos instead of
// the caches' row step_pos, which the first query head of each KV group writes. No workgroup reads
// the row the dispatch writes, so it needs no barrier inside.
// With FINAL and QUANTIZE_RESULT it also quantizes its head for the output projection
// (quantize_head.glsl).

#include "common.glsl"
#include "reduce.glsl"

#ifdef QK_NORM_ROPE_STORE
layout(binding = 0) readonly buffer Query { float q[]; };
layout(binding = 1) buffer KeyCache { vec4 k_cache[]; };
layout(binding = 2) buffer ValueCache { vec4 v_cache[]; };
#else
layout(binding = 0) readonly buffer Query { vec4 q[]; };
layout(binding = 1) readonly buffer KeyCache { vec4 k_cache[]; };
layout(binding = 2) readonly buffer ValueCache { vec4 v_cache[]; };
#endif
DECLARE_STEP_INPUTS(3)
// The partial sums, or with FINAL the output heads (the host binds one or the other).
layout(binding = 4) writeonly buffer Result { float result[]; };
#ifdef QK_NORM_ROPE_STORE
layout(binding = 5) readonly buffer Key { float k[]; };
layout(binding = 6) readonly buffer Value { vec4 v[]; };
// The q norm weights (head_dim floats), the k norm weights (head_dim floats) and the RoPE's inverse
// frequencies (n_rot / 2 floats), one after the other.
layout(binding = 7) readonly buffer Constants { float constants[]; };
layout(binding = 8) writeonly buffer QuantizedOutput { uint quantized_out[]; };
#else
layout(binding = 5) writeonly buffer QuantizedOutput { uint quantized_out[]; };
#endif

layout(push_constant) uniform Push {
  uint n_heads;
  uint n_kv_heads;
  uint head_dim;  // a multiple of 4, at most 4 * WORKGROUP_SIZE (checked by the host)
  uint n_chunks;
  uint capacity;  // positions the caches hold
  float scale;
  uint chunk_len;  // positions per chunk, a multiple of WORKGROUP_SIZE
  uint final;      // FINAL: a single chunk, normalized into `result` as the output heads
#ifdef QK_NORM_ROPE_STORE
  uint n_rot;  // even, at most head_dim
  uint neox;   // 0: adjacent pairs, 1: halves
  float q_norm_eps;
  float k_norm_eps;
#endif
} pc;

const uint FINAL = 1u, QUANTIZE_RESULT = 2u;

// Vectors of a key, or positions of the value sum, each invocation loads before it uses them.
const uint UNROLL = 8;

shared float weights[WORKGROUP_SIZE];
shared vec4 group_sums[WORKGROUP_SIZE];
// With QUANTIZE_RESULT, the normalized head.
shared vec4 head_output[WORKGROUP_SIZE];
float head_value(uint i) { return head_output[i / 4u][i % 4u]; }
#include "quantize_head.glsl"

#ifdef QK_NORM_ROPE_STORE
#include "rotation.glsl"

// The prepared query head (slot 0) and key of position step_pos (slot 1),
// WORKGROUP_SIZE vec4s each.
const uint QUERY_SLOT = 0u, KEY_SLOT = 1u;
shared vec4 prepared[2u * WORKGROUP_SIZE];

float raw_head_value(uint slot, uint index) { return slot == QUERY_SLOT ? q[index] : k[index]; }

float prepared_value(uint slot, uint i) { return prepared[slot * WORKGROUP_SIZE + i / 4u][i % 4u]; }

void set_prepared_value(uint slot, uint i, float value) {
  prepared[slot * WORKGROUP_SIZE + i / 4u][i % 4u] = value;
}

// The head at `base` of q or k, RMS-normalized, scaled by its norm weight and rotated, into `slot`:
// the same operations in the same order as rope.comp, so that the results match it bit for bit.
void normalize_and_rotate(uint slot, uint base) {
  uint lane = gl_LocalInvocationIndex;
  float sum_squares = 0.0;
  for (uint i = lane; i < pc.head_dim; i += WORKGROUP_SIZE)
    sum_squares += raw_head_value(slot, base + i) * raw_head_value(slot, base + i);
  float eps = slot == QUERY_SLOT ? pc.q_norm_eps : pc.k_norm_eps;
  float scale = 1.0 / sqrt(workgroup_sum(sum_squares) / float(pc.head_dim) + eps);
  for (uint i = lane; i < pc.head_dim; i += WORKGROUP_SIZE) {
    float weight = constants[(slot == QUERY_SLOT ? 0u : pc.head_dim) + i];
    set_prepared_value(slot, i, raw_head_value(slot, base + i) * scale * weight);
  }
  barrier();
  uint half_rot = pc.n_rot / 2u;
  for (uint i = lane; i < half_rot; i += WORKGROUP_SIZE) {
    uint first = pc.neox != 0u ? i : 2u * i;
    uint second = pc.neox != 0u ? first + half_rot : first + 1u;
    float a = prepared_value(slot, first);
    float b = prepared_value(slot, second);
    vec2 cs = cos_sin(float(step_pos) * constants[2u * pc.head_dim + i]);
    set_prepared_value(slot, first, a * cs.x - b * cs.y);  // each pair is this invocation's alone
    set_prepared_value(slot, second, a * cs.y + b * cs.x);
  }
  barrier();
}
#endif

vec4 query_vector(uint q_offset4, uint i) {
#ifdef QK_NORM_ROPE_STORE
  return prepared[QUERY_SLOT * WORKGROUP_SIZE + i];
#else
  return q[q_offset4 + i];
#endif
}

// Vector i of the key at `position`, which starts at vec4 `row` of the key cache.
vec4 key_vector(uint position, uint row, uint i) {
#ifdef QK_NORM_ROPE_STORE
  if (position == step_pos) return prepared[KEY_SLOT * WORKGROUP_SIZE + i];
#endif
  return k_cache[row + i];
}

// A vec4 of the value at `position`: vec4 `cache_index` of the value cache or, for this token,
// vec4 `current_index` of its values.
vec4 value_vector(uint position, uint cache_index, uint current_index) {
#ifdef QK_NORM_ROPE_STORE
  if (position == step_pos) return v[current_index];
#endif
  return v_cache[cache_index];
}

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

#ifdef QK_NORM_ROPE_STORE
  normalize_and_rotate(QUERY_SLOT, head * pc.head_dim);
  if (step_pos < end) {  // uniform: this chunk holds step_pos
    uint group_heads = pc.n_heads / pc.n_kv_heads;
    normalize_and_rotate(KEY_SLOT, (head / group_heads) * pc.head_dim);
    if (head % group_heads == 0u && lane < dim4) {
      uint row = step_pos * kv_dim4 + kv_offset4 + lane;
      k_cache[row] = prepared[KEY_SLOT * WORKGROUP_SIZE + lane];
      v_cache[row] = v[kv_offset4 + lane];
    }
  }
#endif

  float running_max = LOWEST_FLOAT;
  float running_sum = 0.0;
  vec4 acc = vec4(0.0);
  for (uint start = first; start < end; start += WORKGROUP_SIZE) {
    uint count = min(WORKGROUP_SIZE, end - start);
    // Scores: one position per invocation, its key read as vec4s.
    float score = LOWEST_FLOAT;
    if (lane < count) {
      uint position = start + lane;
      uint key = position * kv_dim4 + kv_offset4;
      vec4 dot4 = vec4(0.0);
      // UNROLL vectors of the key at a time, all loaded before any is used: a load used right
      // away would wait out the memory latency once per vector.
      for (uint i = 0; i < dim4; i += UNROLL) {
        vec4 keys[UNROLL];
        for (uint u = 0; u < UNROLL; ++u)
          keys[u] = key_vector(position, key, min(i + u, dim4 - 1u));
        for (uint u = 0; u < UNROLL; ++u)
          if (i + u < dim4) dot4 += query_vector(q_offset4, i + u) * keys[u];
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
        for (uint u = 0; u < UNROLL; ++u) {
          uint offset = min(j + u * groups, count - 1u);
          values[u] = value_vector(start + offset, value + offset * kv_dim4, kv_offset4 + d);
        }
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
    if ((pc.final & FINAL) != 0u) {
      vec4 normalized = total / running_sum;
      for (uint i = 0; i < 4u; ++i) result[4u * (q_offset4 + lane) + i] = normalized[i];
      head_output[lane] = normalized;
    } else {
      uint out_base = (head * pc.n_chunks + chunk) * (pc.head_dim + 2u);
      for (uint i = 0; i < 4u; ++i) result[out_base + 4u * lane + i] = total[i];
    }
  }
  if (lane == 0u && (pc.final & FINAL) == 0u) {
    uint out_base = (head * pc.n_chunks + chunk) * (pc.head_dim + 2u);
    result[out_base + pc.head_dim] = running_max;
    result[out_base + pc.head_dim + 1u] = running_sum;
  }
  if ((pc.final & QUANTIZE_RESULT) != 0u) {
    barrier();
    quantize_head(head);
  }
}
