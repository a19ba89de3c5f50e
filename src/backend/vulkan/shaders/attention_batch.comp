#version 450
#extension GL_GOOGLE_include_directive : require
// Causal attention of the n_tokens queries of a batch (token i at position batch_pos + i sees cache
// positions 0 .. batch_pos + i, so the batch's keys and values are stored first): flash attention,
// with each invocation's scores and outputs blocked in registers.
//
// Rows: the G = n_heads / n_kv_heads query heads that share a KV head go together; row r of KV
// head h is query head h * G + r % G of token r / G. Workgroup (h, y) takes QUERY_TILE consecutive
// rows of KV head h (with grouped-query attention its staged keys and values serve G heads and its
// rows span fewer positions) and walks the cache in tiles of KEY_TILE positions, up to the last
// position its rows see. The batch's last rows see the most positions: y counts from the end, so
// that their workgroups start first and the short ones fill in behind them.
//
// Invocations: the rows go in pairs, each pair to MEMBERS invocations (`member` 0 .. MEMBERS - 1).
// For each key tile a member computes its pair's scores with keys member, member + MEMBERS, ...
// (KEYS_PER_LANE of them): per vec4 of the head, two query and KEYS_PER_LANE key vec4s read from
// shared memory for 8 * KEYS_PER_LANE multiply-adds, and as a pair's members read the same queries
// and neighbouring members neighbouring keys, a subgroup's reads are mostly broadcasts. Each member
// posts its largest score of each row to shared memory; then every member of the pair raises the
// running maxima alike from those, writes the softmax numerators of its own scores, and adds, over
// every key of the tile, the weighted values to its slice of the pair's outputs (vec4s member,
// member + MEMBERS, ... of the head), which stay in registers with the running maxima and
// denominators (each member sums the whole tile's numerators itself, so nothing is exchanged at the
// end). No invocation waits on a serial phase; four barriers per key tile.
//
// The queries, scaled, stay in shared memory for the whole walk. A tile's keys, then its values,
// share one buffer (queries, keys and values of 32 rows of 128 floats would take the whole 48 KB);
// the loads of the next rows to stage go into registers (`incoming`) one phase before they are
// stored, so that their latency passes under that phase's arithmetic. Scores are in base 2
// (log2(e) folded into the query scale, exp2 for exp).
//
// The tile's height follows the workgroup width (2 rows per MEMBERS invocations; nothing depends on
// the subgroup size): at 128 invocations (4 subgroups of 32), 32 rows, 2 x 4 scores and 2 x 4
// output vec4s of a head of 128 floats per invocation, and 38.5 KB of shared memory. The host
// checks that the width is a multiple of MEMBERS and sizes the grid and the shared memory by the
// tile (batch_kernels.cpp).

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

const uint MEMBERS = 8;     // batch_kernels.cpp: kAttentionMembers
const uint KEY_TILE = 32;  // batch_kernels.cpp: kAttentionKeyTile
const uint QUERY_PAIRS = WORKGROUP_SIZE / MEMBERS;
const uint QUERY_TILE = 2u * QUERY_PAIRS;
const uint KEYS_PER_LANE = KEY_TILE / MEMBERS;
const uint MAX_HEAD_DIM = 128;  // kernels: kBatchAttentionMaxHeadDim
const uint MAX_DIM4 = MAX_HEAD_DIM / 4u;
const uint DIMS_PER_LANE = MAX_DIM4 / MEMBERS;  // output vec4s per row
const uint STAGED_PER_LANE = (KEY_TILE * MAX_DIM4 + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
const float LOG2_E = 1.4426950408889634;
// Staged heads are padded by one vec4 so that neighbouring rows or keys fall in other banks.
const uint TILE_STRIDE = MAX_DIM4 + 1u;
shared vec4 staged_queries[QUERY_TILE * TILE_STRIDE];
shared vec4 staged_rows[KEY_TILE * TILE_STRIDE];  // the key tile's keys, then its values
// The softmax numerators of pair p (x: its first row, y: its second) with key k at
// p * WEIGHT_STRIDE + k. The padding spreads the writes of a subgroup of 32 (the 8 members of 4
// pairs) over all the banks.
const uint WEIGHT_STRIDE = KEY_TILE + 4u;  // batch_kernels.cpp: kAttentionWeightStride
shared vec2 weights[QUERY_PAIRS * WEIGHT_STRIDE];
// The largest of member m's scores in this tile for pair p, at p * MEMBERS + m.
shared vec2 member_max[QUERY_PAIRS * MEMBERS];

// This invocation and its workgroup (set once by main).
uint lane, pair, member;
uint dim4;
uint kv_head, heads_per_kv, kv_row4;
uint first_row, n_rows;  // of the rows of KV head kv_head
// Element i of a staged tile is vec4 i % dim4 of key i / dim4, and an invocation stages elements
// lane + j * WORKGROUP_SIZE: first_element is the (key, vec4) of j = 0, element_step that of
// WORKGROUP_SIZE elements, so that the staging of each tile steps through them without dividing.
uvec2 first_element, element_step;
vec4 incoming[STAGED_PER_LANE];  // rows loaded for the next store_incoming

// Index in q and out of the first vec4 of row `row` of KV head kv_head.
uint head_index(uint row) {
  uint token = row / heads_per_kv;
  return (token * pc.n_heads + kv_head * heads_per_kv + row % heads_per_kv) * dim4;
}

void stage_queries(float q_scale) {
  for (uint i = lane; i < QUERY_TILE * dim4; i += WORKGROUP_SIZE) {
    uint row = i / dim4;
    uint d = i % dim4;
    staged_queries[row * TILE_STRIDE + d] =
        row < n_rows ? q[head_index(first_row + row) + d] * q_scale : vec4(0.0);
  }
}

uvec2 next_element(uvec2 element) {
  element += element_step;
  if (element.y >= dim4) {
    element.x += 1u;
    element.y -= dim4;
  }
  return element;
}

// Issues the loads of the keys (or values) of cache positions start .. start + count - 1 of KV head
// kv_head into `incoming`, zeros past `count`.
void load_rows(bool values, uint start, uint count) {
  uvec2 element = first_element;
  for (uint j = 0; j < STAGED_PER_LANE; ++j) {
    uint index = (start + element.x) * kv_row4 + kv_head * dim4 + element.y;
    vec4 row = vec4(0.0);
    if (element.x < count) row = values ? v_cache[index] : k_cache[index];
    incoming[j] = row;
    element = next_element(element);
  }
}

void store_incoming() {
  uvec2 element = first_element;
  for (uint j = 0; j < STAGED_PER_LANE; ++j) {
    if (element.x >= KEY_TILE) break;
    staged_rows[element.x * TILE_STRIDE + element.y] = incoming[j];
    element = next_element(element);
  }
}

float dot_add(vec4 a, vec4 b, float sum) {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, sum))));
}

// The pair's scores with this member's keys of the staged tile; LOWEST_FLOAT past `last_key`, the
// last key each row sees (-1 for a row past the batch or a tile wholly past its position).
void compute_scores(ivec2 last_key, out vec2 scores[KEYS_PER_LANE]) {
  for (uint k = 0; k < KEYS_PER_LANE; ++k) scores[k] = vec2(0.0);
  uint pair_start = 2u * pair * TILE_STRIDE;
  for (uint d = 0; d < dim4; ++d) {
    vec4 first = staged_queries[pair_start + d];
    vec4 second = staged_queries[pair_start + TILE_STRIDE + d];
    for (uint k = 0; k < KEYS_PER_LANE; ++k) {
      vec4 key = staged_rows[(member + k * MEMBERS) * TILE_STRIDE + d];
      scores[k] = vec2(dot_add(first, key, scores[k].x), dot_add(second, key, scores[k].y));
    }
  }
  for (uint k = 0; k < KEYS_PER_LANE; ++k) {
    bvec2 visible = lessThanEqual(ivec2(member + k * MEMBERS), last_key);
    scores[k] = mix(vec2(LOWEST_FLOAT), scores[k], visible);
  }
}

void post_member_max(vec2 scores[KEYS_PER_LANE]) {
  vec2 largest = vec2(LOWEST_FLOAT);
  for (uint k = 0; k < KEYS_PER_LANE; ++k) largest = max(largest, scores[k]);
  member_max[pair * MEMBERS + member] = largest;
}

// Raises the running maxima to the tile's, writes the numerators of this member's scores and
// returns the factor that rescales what was summed under the old maxima (0 before the first
// visible position, 1 while a row has none).
vec2 write_weights(vec2 scores[KEYS_PER_LANE], inout vec2 running_max) {
  vec2 new_max = running_max;
  for (uint m = 0; m < MEMBERS; ++m) new_max = max(new_max, member_max[pair * MEMBERS + m]);
  for (uint k = 0; k < KEYS_PER_LANE; ++k) {
    bvec2 masked = equal(scores[k], vec2(LOWEST_FLOAT));
    weights[pair * WEIGHT_STRIDE + member + k * MEMBERS] =
        mix(exp2(scores[k] - new_max), vec2(0.0), masked);
  }
  vec2 rescale = exp2(running_max - new_max);
  running_max = new_max;
  return rescale;
}

// Adds the staged values of keys 0 .. count - 1, weighted, to this member's outputs and their
// weights to the denominators. Keys go in blocks of KEY_BLOCK (past `count` the weights and the
// staged values are zeros), so that whether this member has an i-th output vec4 is tested once per
// block.
const uint KEY_BLOCK = 4;
void accumulate(uint count, inout vec4 outputs[2][DIMS_PER_LANE], inout vec2 running_sum) {
  for (uint first_key = 0; first_key < count; first_key += KEY_BLOCK) {
    vec2 weight[KEY_BLOCK];
    for (uint k = 0; k < KEY_BLOCK; ++k) {
      weight[k] = weights[pair * WEIGHT_STRIDE + first_key + k];
      running_sum += weight[k];
    }
    for (uint i = 0; i < DIMS_PER_LANE; ++i) {
      uint d = member + i * MEMBERS;
      if (d >= dim4) break;
      for (uint k = 0; k < KEY_BLOCK; ++k) {
        vec4 value = staged_rows[(first_key + k) * TILE_STRIDE + d];
        outputs[0][i] = fma(vec4(weight[k].x), value, outputs[0][i]);
        outputs[1][i] = fma(vec4(weight[k].y), value, outputs[1][i]);
      }
    }
  }
}

void main() {
  lane = gl_LocalInvocationIndex;
  pair = lane / MEMBERS;
  member = lane % MEMBERS;
  dim4 = pc.head_dim / 4u;
  kv_head = gl_WorkGroupID.x;
  heads_per_kv = pc.n_heads / pc.n_kv_heads;
  kv_row4 = pc.n_kv_heads * dim4;
  first_element = uvec2(lane / dim4, lane % dim4);
  element_step = uvec2(WORKGROUP_SIZE / dim4, WORKGROUP_SIZE % dim4);
  first_row = (gl_NumWorkGroups.y - 1u - gl_WorkGroupID.y) * QUERY_TILE;
  n_rows = min(QUERY_TILE, pc.n_tokens * heads_per_kv - first_row);
  // Positions this tile's rows see.
  uint end = min(batch_pos + (first_row + n_rows - 1u) / heads_per_kv + 1u, pc.capacity);
  uvec2 rows = uvec2(2u * pair) + uvec2(0u, 1u);
  ivec2 positions = ivec2(uvec2(batch_pos) + (uvec2(first_row) + rows) / heads_per_kv);
  ivec2 last_position = mix(ivec2(-1), positions, lessThan(rows, uvec2(n_rows)));

  stage_queries(pc.scale * LOG2_E);
  vec2 running_max = vec2(LOWEST_FLOAT);
  vec2 running_sum = vec2(0.0);
  vec4 outputs[2][DIMS_PER_LANE];
  for (uint i = 0; i < DIMS_PER_LANE; ++i) outputs[0][i] = outputs[1][i] = vec4(0.0);

  load_rows(false, 0u, min(KEY_TILE, end));
  for (uint start = 0; start < end; start += KEY_TILE) {
    uint count = min(KEY_TILE, end - start);
    barrier();  // the previous tile is done with the staged values and weights
    store_incoming();
    barrier();  // the keys (and, the first time, the queries) are staged
    load_rows(true, start, count);
    vec2 scores[KEYS_PER_LANE];
    compute_scores(min(last_position - int(start), ivec2(count) - 1), scores);
    post_member_max(scores);
    barrier();  // every score is computed (the keys are free) and every member's maximum posted
    store_incoming();
    vec2 rescale = write_weights(scores, running_max);
    running_sum *= rescale;
    for (uint i = 0; i < DIMS_PER_LANE; ++i) {
      outputs[0][i] *= rescale.x;
      outputs[1][i] *= rescale.y;
    }
    barrier();  // the values and weights are staged
    uint next = start + KEY_TILE;
    if (next < end) load_rows(false, next, min(KEY_TILE, end - next));
    accumulate(count, outputs, running_sum);
  }

  for (uint r = 0; r < 2u; ++r) {
    if (rows[r] >= n_rows) break;
    uint base = head_index(first_row + rows[r]);
    for (uint i = 0; i < DIMS_PER_LANE; ++i) {
      uint d = member + i * MEMBERS;
      if (d >= dim4) break;
      out_heads[base + d] = outputs[r][i] / running_sum[r];
    }
  }
}
