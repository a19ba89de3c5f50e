#version 450
#extension GL_GOOGLE_include_directive : require
// y[out_offset + r] = sum_c W[r][c] * x[c] for the `rows` rows of W bound at binding 0 (starting
// `weight_offset` bytes into the binding), dequantizing on the fly, with optional fusions (flags):
//   NORM_INPUT   x is first RMS-normalized and scaled by norm_weight (binding 3): the workgroup sums
//                x^2 over the same loads it dots, so the norm costs no extra pass;
//   ACCUMULATE   y += W x (a residual add folded into its producer);
//   SWIGLU_PAIR  a second matrix V of the same shape lies pair_offset bytes after W, and
//                y = silu(W x) * (V x) (the FFN's gate, up and SwiGLU in one dispatch);
//   ROPE, STORE  the rows are rotated and/or also stored in a KV cache (matvec_epilogue.glsl).
// A group of invocations (below) computes ROWS rows: its invocations take the row's chunks in turn
// (matvec_chunks.glsl), load each chunk of x once and dot it with every row's chunk, then the group
// reduces. Loads come before any use and rows are not branched over, so each invocation has all its
// loads in flight.

#include "common.glsl"
#include "reduce.glsl"
#include "dequant.glsl"

layout(constant_id = 1) const uint ROWS = 1;

layout(binding = 0) readonly buffer WeightVectors { uvec4 weight_vec4[]; };
layout(binding = 1) readonly buffer Input { float x[]; };
layout(binding = 1) readonly buffer InputVectors { vec4 x4[]; };
layout(binding = 2) buffer Output { float y[]; };
layout(binding = 3) readonly buffer NormWeight { float norm_weight[]; };
layout(binding = 3) readonly buffer NormWeightVectors { vec4 norm_weight4[]; };

const uint NORM_INPUT = 1u, ACCUMULATE = 2u, SWIGLU_PAIR = 4u;

#include "matvec_epilogue.glsl"

layout(push_constant) uniform Push {
  uint cols;           // elements per row (a multiple of CHUNK)
  uint rows;           // rows in this dispatch
  uint row_bytes;      // bytes from one row to the next (a multiple of 16)
  uint weight_offset;  // byte offset of the first row within the weights binding (a multiple of 16)
  uint out_offset;     // index in y of the first row's result
  uint flags;
  uint pair_offset;    // SWIGLU_PAIR: bytes from a row of W to the same row of V
  float eps;           // NORM_INPUT
  MatVecEpilogue epilogue;  // ROPE, STORE
} pc;

vec4 load_x4(uint index, inout float sum_squares) {
  vec4 value = x4[index];
  sum_squares += dot(value, value);
  if ((pc.flags & NORM_INPUT) != 0u) value *= norm_weight4[index];
  return value;
}
float load_x(uint index, inout float sum_squares) {
  float value = x[index];
  sum_squares += value * value;
  if ((pc.flags & NORM_INPUT) != 0u) value *= norm_weight[index];
  return value;
}

#include "matvec_chunks.glsl"

// A workgroup is split into groups that each compute ROWS rows on their own: with subgroup
// arithmetic a group is a subgroup (reduced with subgroupAdd, no shared memory, no barrier); without
// it, the whole workgroup (reduced through shared memory). The host counts rows per workgroup the same
// way (kernels.cpp: matvec_rows_per_workgroup).
#ifdef USE_SUBGROUP_ARITHMETIC
uint group_index() { return gl_SubgroupID; }
uint group_count() { return gl_NumSubgroups; }
uint group_lane() { return gl_SubgroupInvocationID; }
uint group_width() { return gl_SubgroupSize; }
float group_sum(float value) { return subgroupAdd(value); }
#else
uint group_index() { return 0u; }
uint group_count() { return 1u; }
uint group_lane() { return gl_LocalInvocationIndex; }
uint group_width() { return WORKGROUP_SIZE; }
float group_sum(float value) { return workgroup_sum(value); }
#endif

// Per group: the ROWS row sums, the ROWS sums of the paired matrix, and the sum of x^2.
const uint VALUES = 2u * ROWS + 1u;
const uint SUM_SQUARES = 2u * ROWS;

void main() {
  uint first_row = (linear_workgroup_id() * group_count() + group_index()) * ROWS;
  // Whole groups leave together (with subgroup arithmetic nothing below synchronizes the workgroup).
  if (first_row >= pc.rows) return;
  uint blocks_per_row = pc.cols / (UNIT * UNITS_PER_BLOCK);
  bool paired = (pc.flags & SWIGLU_PAIR) != 0u;
  // Rows past the end compute the last row again and are not written: no branch between loads.
  uint row_starts[ROWS];
  for (uint r = 0; r < ROWS; ++r)
    row_starts[r] = pc.weight_offset + min(first_row + r, pc.rows - 1u) * pc.row_bytes;

  float values[VALUES];
  for (uint v = 0; v < VALUES; ++v) values[v] = 0.0;
  for (uint chunk = group_lane(); chunk < pc.cols / CHUNK; chunk += group_width()) {
    ChunkWeights weights[ROWS];
    for (uint r = 0; r < ROWS; ++r) weights[r] = load_chunk(row_starts[r], blocks_per_row, chunk);
    ChunkInput ci;
    load_chunk_input(chunk, values[SUM_SQUARES], ci);
    if (paired) {
      ChunkWeights pair_weights[ROWS];
      for (uint r = 0; r < ROWS; ++r)
        pair_weights[r] = load_chunk(row_starts[r] + pc.pair_offset, blocks_per_row, chunk);
      for (uint r = 0; r < ROWS; ++r) values[ROWS + r] += chunk_dot(chunk, pair_weights[r], ci);
    }
    for (uint r = 0; r < ROWS; ++r) values[r] += chunk_dot(chunk, weights[r], ci);
  }
  for (uint v = 0; v < VALUES; ++v) values[v] = group_sum(values[v]);

  float scale = 1.0;
  if ((pc.flags & NORM_INPUT) != 0u)
    scale = 1.0 / sqrt(values[SUM_SQUARES] / float(pc.cols) + pc.eps);
  // Lane r writes row r. The loop keeps every index into `values` a constant: a variable index would
  // put the array in (slow) local memory for the whole kernel.
  for (uint r = 0; r < ROWS; ++r) {
    if (group_lane() != r % group_width() || first_row + r >= pc.rows) continue;
    float total = values[r] * scale;
    if (paired) {
      float up = values[ROWS + r] * scale;
      total = total / (1.0 + exp(-total)) * up;
    }
    write_row(pc.out_offset + first_row + r, total, values[r ^ 1u] * scale, pc.flags, pc.epilogue);
  }
}
