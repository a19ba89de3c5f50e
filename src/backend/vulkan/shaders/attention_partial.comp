#version 450
#extension GL_GOOGLE_include_directive : require
// Causal attention of one query token, split over the KV positions (flash-decoding): workgroup
// (chunk, head) takes positions chunk * chunk_len .. + chunk_len - 1 (only those <= step_pos), in
// passes of WORKGROUP_SIZE / key_lanes positions with a running softmax (key_lanes invocations
// share a key's dot product, so that each loads at most KEY_VECTORS of its vectors, all at the
// start of the pass: below), and writes, for its head, the unnormalized weighted sum of V over them
// with the chunk's score maximum m and softmax denominator l:
// partial[head][chunk] = {o[0 .. head_dim - 1], m, l}. attention_combine merges the chunks. With
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
  uint chunk_len;  // positions per chunk, a multiple of attention_partial's WORKGROUP_SIZE
  uint final;      // FINAL: a single chunk, normalized into `result` as the output heads
#ifdef QK_NORM_ROPE_STORE
  uint n_rot;  // even, at most head_dim
  uint neox;   // 0: adjacent pairs, 1: halves
  float q_norm_eps;
  float k_norm_eps;
#endif
} pc;

const uint FINAL = 1u, QUANTIZE_RESULT = 2u;

// What each invocation loads of a pass before it uses any of it (load_pass): KEY_VECTORS vectors of
// 4 of its position's key (its share of them: key_lanes) and VALUE_POSITIONS positions of the value
// sum, so that a pass waits for memory once, and the first pass's loads are on their way before the
// query is prepared. 8 of each in both variants: with 16 the QK_NORM_ROPE_STORE variant (qwen3's
// heads of 128 and 256 values) took 209 registers on the H200 and Qwen3.5-4B lost 2.5 %
// (docs/perf/README.md, v5); the plain one, two invocations per key of 64 in a workgroup twice as
// wide, gained 0.7 % on SmolLM2-1.7B (v10).
const uint KEY_VECTORS = 8;
// As many as KEY_VECTORS, so that the value groups cover a pass in one round of loads: with
// m = key_lanes * KEY_VECTORS (a power of two, at least dim4) a pass holds
// WORKGROUP_SIZE / key_lanes = WORKGROUP_SIZE * KEY_VECTORS / m positions, and the
// groups = WORKGROUP_SIZE / dim4 (rounded down: at least WORKGROUP_SIZE / m, or 1 where m exceeds
// the width) take VALUE_POSITIONS each, at least as many (the width is a power of two).
const uint VALUE_POSITIONS = KEY_VECTORS;

// Shared memory grows with the width: the QK_NORM_ROPE_STORE variant's record (pipelines.cpp)
// declares its bytes per invocation (these arrays, `prepared` and reduce.glsl's scratch: 76), which
// keep its width within the device's shared memory. Keep the two in step.
shared float weights[WORKGROUP_SIZE];
// With key_lanes > 1, each invocation's part of its position's score.
shared float score_parts[WORKGROUP_SIZE];
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

void set_prepared_value(uint slot, uint i, float value) {
  prepared[slot * WORKGROUP_SIZE + i / 4u][i % 4u] = value;
}

// The sums of squares of the query head at `q_base` of q and, with `with_key` (uniform), of the key
// head at `k_base` of k, for their RMS norms. With subgroup arithmetic every subgroup adds up both
// heads itself (a few loads per lane, from the cache after the first subgroup's): no barrier.
vec2 head_sums_of_squares(uint q_base, uint k_base, bool with_key) {
  vec2 sums = vec2(0.0);
#ifdef USE_SUBGROUP_ARITHMETIC
  for (uint i = gl_SubgroupInvocationID; i < pc.head_dim; i += gl_SubgroupSize) {
#else
  for (uint i = gl_LocalInvocationIndex; i < pc.head_dim; i += WORKGROUP_SIZE) {
#endif
    float query = q[q_base + i];
    float key = with_key ? k[k_base + i] : 0.0;
    sums += vec2(query * query, key * key);
  }
#ifdef USE_SUBGROUP_ARITHMETIC
  return subgroupAdd(sums);
#else
  return workgroup_sum2(sums);
#endif
}

// Value i of the head at `base` of q (slot QUERY_SLOT) or k (KEY_SLOT).
float raw_head_value(uint slot, uint base, uint i) {
  return slot == QUERY_SLOT ? q[base + i] : k[base + i];
}

// Value e of the heads' preparation (e < head_dim: the query's element e, then the key's element
// e - head_dim) and, where it is rotated, its RoPE pair: which of the two it is, its partner, and
// the pair's index.
struct PreparedValue {
  uint slot, i, partner, pair;
  bool rotated, first;
};

PreparedValue prepared_value(uint e) {
  PreparedValue v;
  v.slot = e < pc.head_dim ? QUERY_SLOT : KEY_SLOT;
  v.i = e - v.slot * pc.head_dim;
  uint half_rot = pc.n_rot / 2u;
  v.rotated = v.i < pc.n_rot;
  v.first = pc.neox != 0u ? v.i < half_rot : v.i % 2u == 0u;
  v.pair = pc.neox != 0u ? v.i % half_rot : v.i / 2u;
  v.partner = pc.neox != 0u ? (v.first ? v.i + half_rot : v.i - half_rot) : v.i ^ 1u;
  if (!v.rotated) v.partner = v.i;
  return v;
}

// What a prepared value reads besides the norms' scales: its raw value and its partner's, their
// norm weights, and its inverse frequency. Loaded before the sums of squares (none of it depends on
// them), so that the loads' latency overlaps the sums': on the H200 Qwen3-4B +0.7 %
// (docs/perf/README.md, v13).
struct PreparedValueInputs {
  float value, partner;
  float weight, partner_weight;
  float inverse_frequency;
};

PreparedValueInputs prepared_value_inputs(PreparedValue v, uint q_base, uint k_base) {
  uint base = v.slot == QUERY_SLOT ? q_base : k_base;
  uint weights = v.slot * pc.head_dim;
  return PreparedValueInputs(raw_head_value(v.slot, base, v.i),
                             raw_head_value(v.slot, base, v.partner),
                             constants[weights + v.i], constants[weights + v.partner],
                             v.rotated ? constants[2u * pc.head_dim + v.pair] : 0.0);
}

// The query head at `q_base` of q and, with `with_key` (uniform), the key head at `k_base` of k,
// RMS-normalized, scaled by their norm weights and rotated, into their slots, with rope.comp's
// operations on each value. Each invocation computes its values whole, normalizing its RoPE
// partner too, so that the heads meet shared memory once, behind one barrier (the norm, then the
// rotation in shared memory, took four; docs/perf/README.md, v12).
void normalize_and_rotate(uint q_base, uint k_base, bool with_key) {
  uint values = (with_key ? 2u : 1u) * pc.head_dim;
  // The first value's inputs now, the others' (on narrow workgroups) in their turn.
  uint lane = gl_LocalInvocationIndex;
  PreparedValueInputs first_inputs = PreparedValueInputs(0.0, 0.0, 0.0, 0.0, 0.0);
  if (lane < values) first_inputs = prepared_value_inputs(prepared_value(lane), q_base, k_base);
  vec2 mean_squares = head_sums_of_squares(q_base, k_base, with_key) / float(pc.head_dim);
  vec2 scales = vec2(1.0 / sqrt(mean_squares.x + pc.q_norm_eps),
                     1.0 / sqrt(mean_squares.y + pc.k_norm_eps));
  for (uint e = lane; e < values; e += WORKGROUP_SIZE) {
    PreparedValue v = prepared_value(e);
    PreparedValueInputs inputs =
        e == lane ? first_inputs : prepared_value_inputs(v, q_base, k_base);
    float scale = v.slot == QUERY_SLOT ? scales.x : scales.y;
    float value = inputs.value * scale * inputs.weight;
    if (v.rotated) {
      float other = inputs.partner * scale * inputs.partner_weight;
      vec2 cs = cos_sin(float(step_pos) * inputs.inverse_frequency);
      value = v.first ? value * cs.x - other * cs.y : other * cs.y + value * cs.x;
    }
    set_prepared_value(v.slot, v.i, value);
  }
  barrier();
}
#endif

#ifndef QK_NORM_ROPE_STORE
// The query head, staged once for every position's dot product.
shared vec4 query_head[WORKGROUP_SIZE];
#endif

vec4 query_vector(uint i) {
#ifdef QK_NORM_ROPE_STORE
  return prepared[QUERY_SLOT * WORKGROUP_SIZE + i];
#else
  return query_head[i];
#endif
}

// Whether the key of `position` is this dispatch's prepared one rather than a row of the cache.
bool key_is_prepared(uint position) {
#ifdef QK_NORM_ROPE_STORE
  return position == step_pos;
#else
  return false;
#endif
}

// Vector i of the key at `position`, which starts at vec4 `row` of the key cache.
vec4 key_vector(uint position, uint row, uint i) {
#ifdef QK_NORM_ROPE_STORE
  if (key_is_prepared(position)) return prepared[KEY_SLOT * WORKGROUP_SIZE + i];
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

// Invocations per key dot product: the fewest (a power of two) that leave each at most KEY_VECTORS
// of a key's dim4 vectors, so that load_pass loads all of them (at most dim4, itself at most
// WORKGROUP_SIZE). Each round of loads after the pass's first would be another wait for memory: on
// the H200, Qwen3-4B's heads of 128 values, at one invocation per key and three rounds more, spent
// ~2.6 of the attention's ~11 us per layer in them (docs/perf/README.md, v9).
uint key_lanes(uint dim4) {
  uint lanes = 1u;
  while (lanes * KEY_VECTORS < dim4) lanes *= 2u;
  return lanes;
}

// The loads of the pass over positions start .. start + count - 1 (count > 0) for invocation
// `lane`: its share of its position's key, vectors part, part + lanes, ... (lanes = key_lanes; a
// prepared key is read where it is used), and, for value group `group` (< groups), the value
// vectors d of positions group, group + groups, ...
void load_pass(uint start, uint count, uint lane, uint group, uint groups, uint d, uint kv_dim4,
               uint kv_offset4, out vec4 keys[KEY_VECTORS], out vec4 values[VALUE_POSITIONS]) {
  uint dim4 = pc.head_dim / 4u;
  uint lanes = key_lanes(dim4);
  uint slot = lane / lanes, part = lane % lanes;
  uint position = start + min(slot, count - 1u);
  uint key = position * kv_dim4 + kv_offset4;
  bool cached = slot < count && !key_is_prepared(position);
  for (uint u = 0; u < KEY_VECTORS; ++u) {
    uint i = part + u * lanes;
    keys[u] = cached && i < dim4 ? k_cache[key + i] : vec4(0.0);
  }
  uint value = start * kv_dim4 + kv_offset4 + d;
  for (uint u = 0; u < VALUE_POSITIONS; ++u) {
    uint offset = min(group + u * groups, count - 1u);
    values[u] = group < groups
                    ? value_vector(start + offset, value + offset * kv_dim4, kv_offset4 + d)
                    : vec4(0.0);
  }
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
  // Keys: invocation (slot, part) takes part `part` of the dot product of position slot of each
  // pass; the pass's positions are the slots.
  uint lanes = key_lanes(dim4);
  uint pass_positions = WORKGROUP_SIZE / lanes;
  uint slot = lane / lanes, part = lane % lanes;

  vec4 keys[KEY_VECTORS];
  vec4 values[VALUE_POSITIONS];
  load_pass(first, min(pass_positions, end - first), lane, group, groups, d, kv_dim4, kv_offset4,
            keys, values);

#ifdef QK_NORM_ROPE_STORE
  uint group_heads = pc.n_heads / pc.n_kv_heads;
  bool holds_step = step_pos < end;  // uniform: this chunk holds step_pos, whose key it prepares
  normalize_and_rotate(head * pc.head_dim, (head / group_heads) * pc.head_dim, holds_step);
  if (holds_step) {
    if (head % group_heads == 0u && lane < dim4) {
      uint row = step_pos * kv_dim4 + kv_offset4 + lane;
      k_cache[row] = prepared[KEY_SLOT * WORKGROUP_SIZE + lane];
      v_cache[row] = v[kv_offset4 + lane];
    }
  }
#else
  if (lane < dim4) query_head[lane] = q[q_offset4 + lane];
  barrier();
#endif

  float running_max = LOWEST_FLOAT;
  // The softmax denominator of this invocation's positions (at most one per pass): the workgroup
  // adds them up once, after the passes, rather than a reduction per pass.
  float lane_sum = 0.0;
  vec4 acc = vec4(0.0);
  for (uint start = first; start < end; start += pass_positions) {
    uint count = min(pass_positions, end - start);
    if (start != first)
      load_pass(start, count, lane, group, groups, d, kv_dim4, kv_offset4, keys, values);
    // Scores: invocation (slot, part) adds its part of position slot's dot product.
    vec4 dot4 = vec4(0.0);
    if (slot < count) {
      uint position = start + slot;
      uint key = position * kv_dim4 + kv_offset4;
      bool prepared_key = key_is_prepared(position);
      for (uint u = 0; u < KEY_VECTORS; ++u) {
        uint i = part + u * lanes;
        if (i < dim4)
          dot4 += query_vector(i) * (prepared_key ? key_vector(position, key, i) : keys[u]);
      }
    }
    // Then invocation p < count holds position p's score.
    float score = LOWEST_FLOAT;
    if (lanes == 1u) {
      if (lane < count) score = dot(dot4, vec4(1.0)) * pc.scale;
    } else {
      // Read in the same pass, after this barrier; rewritten in the next, after the barriers of
      // `weights` below.
      score_parts[lane] = dot(dot4, vec4(1.0));
      barrier();
      if (lane < count) {
        float sum = 0.0;
        for (uint p = 0; p < lanes; ++p) sum += score_parts[lane * lanes + p];
        score = sum * pc.scale;
      }
    }
#ifdef USE_SUBGROUP_ARITHMETIC
    // The pass's largest score through reduce_scratch, in one barrier where workgroup_max and the
    // writes of `weights` take three: the previous pass read `weights` and reduce_scratch before
    // a barrier this pass has passed (the one above or below).
    float pass_max = subgroupMax(score);
    if (subgroupElect()) reduce_scratch[gl_SubgroupID] = pass_max;
    barrier();
    for (uint s = 0; s < gl_NumSubgroups; ++s) pass_max = max(pass_max, reduce_scratch[s]);
    float new_max = max(running_max, pass_max);
    float correction = exp(running_max - new_max);  // 0 on the first pass
    float weight = lane < count ? exp(score - new_max) : 0.0;
#else
    float new_max = max(running_max, workgroup_max(score));
    float correction = exp(running_max - new_max);  // 0 on the first pass
    float weight = lane < count ? exp(score - new_max) : 0.0;
    barrier();  // the previous pass has finished reading `weights`
#endif
    weights[lane] = weight;
    barrier();
    lane_sum = lane_sum * correction + weight;
    running_max = new_max;
    acc *= correction;
    if (group < groups) {
      for (uint u = 0; u < VALUE_POSITIONS; ++u) {
        uint j = group + u * groups;
        if (j < count) acc += weights[j] * values[u];
      }
    }
  }
#ifdef USE_SUBGROUP_ARITHMETIC
  // The denominator's subgroup sums share the value sums' barrier (the last pass read
  // reduce_scratch before its barrier of `weights`).
  float subgroup_sum = subgroupAdd(lane_sum);
  if (subgroupElect()) reduce_scratch[gl_SubgroupID] = subgroup_sum;
  group_sums[lane] = acc;
  barrier();
  float running_sum = 0.0;
  for (uint s = 0; s < gl_NumSubgroups; ++s) running_sum += reduce_scratch[s];
#else
  float running_sum = workgroup_sum(lane_sum);
  group_sums[lane] = acc;
  barrier();
#endif
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
