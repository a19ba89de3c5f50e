#version 450
#extension GL_GOOGLE_include_directive : require
// Causal attention of the n_tokens queries of a batch (token i at position batch_pos + i sees cache
// positions 0 .. batch_pos + i, so the batch's keys and values are stored first). Query head h uses
// KV head h / (n_heads / n_kv_heads). Workgroup (x, h) takes queries x * QUERY_TILE .. of head h
// and walks the cache in tiles of KEY_TILE positions, up to the last position its queries see
// (flash attention): it stages the tile's keys and values in shared memory, computes the
// QUERY_TILE x KEY_TILE scores, updates each query's running softmax maximum and denominator, and
// adds the tile's weighted values to the unnormalized outputs, which stay in registers: invocation
// `lane` owns vec4s lane, lane + WORKGROUP_SIZE, ... of the QUERY_TILE x head_dim outputs. Nothing
// depends on the subgroup size.

#include "common.glsl"
#include "batch.glsl"

layout(binding = 0) readonly buffer Query { vec4 q[]; };
layout(binding = 1) readonly buffer KeyCache { vec4 k_cache[]; };
layout(binding = 2) readonly buffer ValueCache { vec4 v_cache[]; };
DECLARE_BATCH_INPUTS(3)
layout(binding = 4) writeonly buffer Output { vec4 out_heads[]; };

layout(push_constant) uniform Push {
  uint n_heads;
  uint n_kv_heads;
  uint head_dim;  // a multiple of 4, at most MAX_HEAD_DIM (checked by the host)
  uint capacity;  // positions the caches hold
  uint n_tokens;
  float scale;
} pc;

const uint QUERY_TILE = 16;
const uint KEY_TILE = 16;
const uint MAX_HEAD_DIM = 128;  // kernels: kBatchAttentionMaxHeadDim
const uint MAX_DIM4 = MAX_HEAD_DIM / 4u;
// Staged heads are padded by one vec4 so that neighbouring queries or keys fall in other banks.
const uint TILE_STRIDE = MAX_DIM4 + 1u;
shared vec4 staged_queries[QUERY_TILE * TILE_STRIDE];
shared vec4 staged_keys[KEY_TILE * TILE_STRIDE];
shared vec4 staged_values[KEY_TILE * TILE_STRIDE];
shared float weights[QUERY_TILE * KEY_TILE];  // scores, then their softmax numerators
shared float running_max[QUERY_TILE];
shared float running_sum[QUERY_TILE];
shared float correction[QUERY_TILE];  // this tile's rescaling of the earlier outputs

const uint OUTPUTS_PER_LANE = (QUERY_TILE * MAX_DIM4 + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;

void main() {
  uint lane = gl_LocalInvocationIndex;
  uint head = gl_WorkGroupID.y;
  uint first_query = gl_WorkGroupID.x * QUERY_TILE;
  uint n_queries = min(QUERY_TILE, pc.n_tokens - first_query);
  uint dim4 = pc.head_dim / 4u;
  uint q_row4 = pc.n_heads * dim4;
  uint kv_row4 = pc.n_kv_heads * dim4;
  uint kv_offset4 = (head / (pc.n_heads / pc.n_kv_heads)) * dim4;
  uint first_position = batch_pos + first_query;
  uint end = min(first_position + n_queries, pc.capacity);  // positions this tile's queries see

  for (uint i = lane; i < QUERY_TILE * dim4; i += WORKGROUP_SIZE) {
    uint query = i / dim4;
    uint d = i % dim4;
    staged_queries[query * TILE_STRIDE + d] =
        query < n_queries ? q[(first_query + query) * q_row4 + head * dim4 + d] : vec4(0.0);
  }
  for (uint query = lane; query < QUERY_TILE; query += WORKGROUP_SIZE) {
    running_max[query] = LOWEST_FLOAT;
    running_sum[query] = 0.0;
  }
  vec4 outputs[OUTPUTS_PER_LANE];
  for (uint j = 0; j < OUTPUTS_PER_LANE; ++j) outputs[j] = vec4(0.0);

  for (uint start = 0; start < end; start += KEY_TILE) {
    uint count = min(KEY_TILE, end - start);
    barrier();  // the previous tile is done with the staged keys, values and weights
    for (uint i = lane; i < KEY_TILE * dim4; i += WORKGROUP_SIZE) {
      uint key = i / dim4;
      uint d = i % dim4;
      uint index = (start + key) * kv_row4 + kv_offset4 + d;
      staged_keys[key * TILE_STRIDE + d] = key < count ? k_cache[index] : vec4(0.0);
      staged_values[key * TILE_STRIDE + d] = key < count ? v_cache[index] : vec4(0.0);
    }
    barrier();
    for (uint i = lane; i < QUERY_TILE * KEY_TILE; i += WORKGROUP_SIZE) {
      uint query = i / KEY_TILE;
      uint key = i % KEY_TILE;
      float score = LOWEST_FLOAT;  // masked: a later position, or no such query or key
      if (query < n_queries && key < count && start + key <= first_position + query) {
        vec4 dot4 = vec4(0.0);
        for (uint d = 0; d < dim4; ++d)
          dot4 += staged_queries[query * TILE_STRIDE + d] * staged_keys[key * TILE_STRIDE + d];
        score = dot(dot4, vec4(1.0)) * pc.scale;
      }
      weights[i] = score;
    }
    barrier();
    for (uint query = lane; query < QUERY_TILE; query += WORKGROUP_SIZE) {
      float tile_max = LOWEST_FLOAT;
      for (uint key = 0; key < KEY_TILE; ++key)
        tile_max = max(tile_max, weights[query * KEY_TILE + key]);
      float new_max = max(running_max[query], tile_max);
      float tile_sum = 0.0;
      for (uint key = 0; key < KEY_TILE; ++key) {
        float score = weights[query * KEY_TILE + key];
        float weight = score == LOWEST_FLOAT ? 0.0 : exp(score - new_max);
        weights[query * KEY_TILE + key] = weight;
        tile_sum += weight;
      }
      // 0 on a query's first tile with a visible position (nothing to rescale yet).
      float rescale = exp(running_max[query] - new_max);
      running_sum[query] = running_sum[query] * rescale + tile_sum;
      running_max[query] = new_max;
      correction[query] = rescale;
    }
    barrier();
    for (uint j = 0; j < OUTPUTS_PER_LANE; ++j) {
      uint i = j * WORKGROUP_SIZE + lane;
      if (i >= QUERY_TILE * dim4) break;
      uint query = i / dim4;
      uint d = i % dim4;
      vec4 total = outputs[j] * correction[query];
      for (uint key = 0; key < count; ++key)
        total += weights[query * KEY_TILE + key] * staged_values[key * TILE_STRIDE + d];
      outputs[j] = total;
    }
  }

  for (uint j = 0; j < OUTPUTS_PER_LANE; ++j) {
    uint i = j * WORKGROUP_SIZE + lane;
    if (i >= n_queries * dim4) break;
    uint query = i / dim4;
    out_heads[(first_query + query) * q_row4 + head * dim4 + i % dim4] =
        outputs[j] / running_sum[query];
  }
}
