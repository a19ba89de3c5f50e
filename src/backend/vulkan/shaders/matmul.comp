#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Y[t][out_offset + r] = sum_c W[r][c] * X[t][c] for the `rows` rows of W bound at binding 0
// (starting `weight_offset` bytes into the binding) and the n_tokens rows of X (cols floats each):
// the mat-vec of a batch of prompt tokens as one matrix-matrix product. With ACCUMULATE, Y += W X
// (a residual add folded in). Rows of Y are out_stride floats apart.
//
// Tiling: a workgroup computes TILE_ROWS rows x TILE_TOKENS tokens. For each step of STEP_K
// columns it stages the tile's weights, dequantized to floats (16 per invocation, 16-byte loads in
// the device layout of src/backend/vulkan/weight_layout.h), and the tokens' activations (vec4
// loads) in shared memory, in two buffers: the next step's tiles are staged while the current
// step's are multiplied, so one barrier per step orders both and the loads' latency overlaps other
// subgroups' arithmetic. Then each invocation accumulates a block of BLOCK_ROWS rows x
// BLOCK_TOKENS tokens in registers, reading BLOCK_ROWS / 4 vec4s of weights and two vec4s of
// activations per column. BLOCK_ROWS (a multiple of 4) is specialization constant 1, the kernel's
// rows_per_workgroup in pipelines.cpp; the tile's height follows it and the workgroup width
// (specialization constant 0, a multiple of TOKEN_LANES): nothing here depends on the subgroup
// size. Rows past the end compute the last row
// again and are not written; tokens past the end are not staged, and invocations whose whole token
// block is past it skip the products (a batch shorter than the tile costs less); columns past
// `cols` (float types only: every quantized row is whole 32-element blocks) count as zero.
//
// With halves = 2 the steps (step_first_column: Q8_0 takes its columns in another order) are cut
// in two halves, workgroup z taking half z: the first half's sums go to y as above, the second's
// to `partials` at the same index, for the host to add to y afterwards (batch_kernels.cpp: a
// matrix too short to fill the GPU with its tiles gets twice the workgroups so, and the sums stay
// in one order).

#include "common.glsl"
#include "dequant.glsl"

layout(binding = 0) readonly buffer WeightVectors { uvec4 weight_vec4[]; };
layout(binding = 1) readonly buffer Input { float x[]; };
layout(binding = 1) readonly buffer InputVectors { vec4 x4[]; };
layout(binding = 2) buffer Output { float y[]; };
layout(binding = 3) writeonly buffer Partials { float partials[]; };

const uint ACCUMULATE = 1u;

layout(push_constant) uniform Push {
  uint cols;           // elements per row of W and X
  uint rows;           // rows of W in this dispatch
  uint row_bytes;      // bytes from one row of W to the next (a multiple of 16)
  uint weight_offset;  // byte offset of the first row within the weights binding (a multiple of 16)
  uint out_offset;     // index in a row of Y of the first row's result
  uint out_stride;     // floats from one row of Y to the next
  uint n_tokens;
  uint flags;
  uint halves;  // 1, or 2: the columns cut in two (whole blocks each: the host checks)
} pc;

layout(constant_id = 1) const uint BLOCK_ROWS = 4;

const uint STEP_K = 16;  // half a Q8_0 block or K-quant sub-block: one piece per row
const uint PIECE = 16;   // weights one invocation dequantizes at a time
const uint TILE_TOKENS = 64;
const uint BLOCK_TOKENS = 8;
const uint TOKEN_LANES = TILE_TOKENS / BLOCK_TOKENS;
const uint ROW_LANES = WORKGROUP_SIZE / TOKEN_LANES;
const uint TILE_ROWS = ROW_LANES * BLOCK_ROWS;
// An invocation's rows are ROW_VECTORS groups of 4, ROW_LANES * 4 rows apart, so that neighbouring
// invocations read neighbouring vec4s of the staged weights.
const uint ROW_VECTORS = BLOCK_ROWS / 4u;
// Column k of the staged tiles is one row of vec4s, padded by one vec4 to spread the shared-memory
// banks that the staging writes hit.
const uint WEIGHT_STRIDE = TILE_ROWS / 4u + 1u;
const uint INPUT_STRIDE = TILE_TOKENS / 4u + 1u;
const uint WEIGHT_TILE = STEP_K * WEIGHT_STRIDE, INPUT_TILE = STEP_K * INPUT_STRIDE;
shared vec4 staged_weights[2u * WEIGHT_TILE];
shared vec4 staged_inputs[2u * INPUT_TILE];

// The four bytes of `word`, masked, as floats minus `offset`, without int-to-float conversions
// (which run at a fraction of the FMA rate on some GPUs): a value v < 2^23 placed in the mantissa
// of 2^23 is the float 2^23 + v exactly.
vec4 bytes_to_float(uint word, uint shift, uint mask, float offset) {
  uvec4 bytes = (uvec4(word) >> (uvec4(0u, 8u, 16u, 24u) + shift)) & mask;
  return uintBitsToFloat(bytes | 0x4B000000u) - (8388608.0 + offset);
}

#if defined(WEIGHT_Q8_0)
// Elements first .. first + 15 of a repacked row: half of block b's quants, then its scale.
void dequantize_piece(uint row_start, uint blocks_per_row, uint first, out float v[PIECE]) {
  uint b = first / 32u;
  uvec4 q = weight_vec4[(row_start >> 4) + q8_0_vector_slot(first / 16u, 2u * blocks_per_row)];
  float d = load_f16(row_start + QS_BYTES * blocks_per_row + 2u * b);
  for (uint k = 0; k < 4u; ++k) {
    // Flipping the sign bit turns an int8 q into the uint8 q + 128.
    vec4 values = bytes_to_float(q[k] ^ 0x80808080u, 0u, 0xffu, 128.0) * d;
    for (uint j = 0; j < 4u; ++j) v[4u * k + j] = values[j];
  }
}

#elif defined(WEIGHT_Q4_K)
#include "k_scales.glsl"
// Elements first .. first + 15: half of sub-block s, the low (s even) or high nibbles of 16 bytes
// of qs[32 * (s / 2) ..].
void dequantize_piece(uint row_start, uint blocks_per_row, uint first, out float v[PIECE]) {
  uint block = row_start + (first / 256u) * BLOCK_Q4_K_BYTES;
  uint s = (first % 256u) / 32u;
  uvec4 header = weight_vec4[block >> 4];
  uvec4 qs = weight_vec4[(block + BLOCK_Q4_K_QS + 32u * (s / 2u) + (first % 32u)) >> 4];
  vec2 d = unpackHalf2x16(header.x);  // d, dmin
  uvec2 sm = k_scales_mins(header, s).xy;
  float scale = d.x * float(sm.x);
  float minimum = d.y * float(sm.y);
  uint shift = 4u * (s % 2u);
  for (uint k = 0; k < 4u; ++k) {
    vec4 values = scale * bytes_to_float(qs[k], shift, 15u, 0.0) - minimum;
    for (uint j = 0; j < 4u; ++j) v[4u * k + j] = values[j];
  }
}

#elif defined(WEIGHT_Q6_K)
// Elements first .. first + 15 of a repacked row (dequant.glsl describes the layout): 16 bytes of
// low bits, the chunk's 16 bytes of high bits, one int8 scale and the block's d.
void dequantize_piece(uint row_start, uint blocks_per_row, uint first, out float v[PIECE]) {
  uint b = first / 256u;
  uint unit = (first % 256u) / 16u;
  uint t = unit % 4u;  // the piece's 16 elements in its chunk of 64
  uint chunk = row_start + QUANT_BYTES * b + 48u * (unit / 4u);
  uvec4 ql = weight_vec4[(chunk + 16u * (t % 2u)) >> 4];
  uvec4 qh = weight_vec4[(chunk + 32u) >> 4];
  uint scales = row_start + QUANT_BYTES * blocks_per_row + SCALE_BYTES * b;
  float d = load_f16(row_start + (QUANT_BYTES + SCALE_BYTES) * blocks_per_row + 2u * b);
  float scale = d * float(sign_extend_u8(load_u8(scales + unit)));
  uint low_shift = 4u * (t / 2u);
  uint high_shift = 2u * t;
  for (uint k = 0; k < 4u; ++k) {
    // Bits 4-5 of each quant from qh, moved into place in all four bytes at once.
    uint quants =
        ((ql[k] >> low_shift) & 0x0f0f0f0fu) | (((qh[k] >> high_shift) & 0x03030303u) << 4);
    vec4 values = scale * bytes_to_float(quants, 0u, 0xffu, 32.0);
    for (uint j = 0; j < 4u; ++j) v[4u * k + j] = values[j];
  }
}

#elif defined(WEIGHT_F32) || defined(WEIGHT_F16) || defined(WEIGHT_BF16)
// Elements first .. first + 15, one at a time (dequant.glsl), zero past the row's end.
void dequantize_piece(uint row_start, uint blocks_per_row, uint first, out float v[PIECE]) {
  for (uint i = 0; i < PIECE; ++i) {
    float one[UNIT];
    one[0] = 0.0;
    if (first + i < pc.cols) dequantize_row_unit(row_start, blocks_per_row, first + i, one);
    v[i] = one[0];
  }
}

#else
// Any other quantized type through dequant.glsl: a piece is one unit.
void dequantize_piece(uint row_start, uint blocks_per_row, uint first, out float v[PIECE]) {
  dequantize_row_unit(row_start, blocks_per_row, first / UNIT, v);
}
#endif

// The first column of step `step` (STEP_K columns each). The sum may take the steps in any order:
// a Q8_0 row takes them in the order its halves lie in memory (q8_0_vector_slot), so that each
// step's 16-byte load per row is next to the previous step's, as with the other types' columns in
// order (taken in column order, Q8_0's pp512 lost ~4 % on the H200: docs/perf/README.md, v8).
uint step_first_column(uint step, uint blocks_per_row) {
#if defined(WEIGHT_Q8_0)
  return PIECE * q8_0_vector_in_slot(step, 2u * blocks_per_row);
#else
  return STEP_K * step;
#endif
}

// Activations first .. first + 3 of token `token`, zero past the row's end.
vec4 load_input4(uint token, uint first) {
  uint start = token * pc.cols + first;
  if (first + 4u <= pc.cols && (pc.cols % 4u) == 0u) return x4[start / 4u];
  vec4 value = vec4(0.0);
  for (uint j = 0; j < 4u; ++j)
    if (first + j < pc.cols) value[j] = x[start + j];
  return value;
}

// Stages the tiles of step `step`'s columns into buffer `slot` (0 or 1).
void stage(uint step, uint slot, uint first_row, uint first_token, uint blocks_per_row) {
  uint k0 = step_first_column(step, blocks_per_row);
  uint lane = gl_LocalInvocationIndex;
  for (uint p = lane; p < TILE_ROWS * (STEP_K / PIECE); p += WORKGROUP_SIZE) {
    uint r = p % TILE_ROWS;
    uint k = (p / TILE_ROWS) * PIECE;
    uint row = min(first_row + r, pc.rows - 1u);
    float v[PIECE];
    dequantize_piece(pc.weight_offset + row * pc.row_bytes, blocks_per_row, k0 + k, v);
    for (uint i = 0; i < PIECE; ++i)
      staged_weights[slot * WEIGHT_TILE + (k + i) * WEIGHT_STRIDE + r / 4u][r % 4u] = v[i];
  }
  for (uint p = lane; p < TILE_TOKENS * (STEP_K / 4u); p += WORKGROUP_SIZE) {
    uint t = p / (STEP_K / 4u);
    if (first_token + t >= pc.n_tokens) break;  // staged but never used
    uint k = (p % (STEP_K / 4u)) * 4u;
    vec4 value = load_input4(first_token + t, k0 + k);
    for (uint j = 0; j < 4u; ++j)
      staged_inputs[slot * INPUT_TILE + (k + j) * INPUT_STRIDE + t / 4u][t % 4u] = value[j];
  }
}

void main() {
  uint lane = gl_LocalInvocationIndex;
  // Neighbouring invocations take neighbouring rows: a subgroup spans few token blocks, so that
  // blocks wholly past the batch's end (short batches) leave whole subgroups idle.
  uint row_lane = lane % ROW_LANES;
  uint token_lane = lane / ROW_LANES;
  uint first_row = gl_WorkGroupID.x * TILE_ROWS;
  uint first_token = gl_WorkGroupID.y * TILE_TOKENS;
  uint blocks_per_row = pc.cols / (UNIT * UNITS_PER_BLOCK);

  // sums[t * ROW_VECTORS + v]: rows (v * ROW_LANES + row_lane) * 4 .. + 3 for the invocation's
  // token t. The loops over them are unrolled so that they stay in registers: left as loops, the
  // wide kernels' 64 sums went to local memory on the H200 (10x slower; docs/perf/README.md, v6).
  vec4 sums[BLOCK_TOKENS * ROW_VECTORS];
  [[unroll]] for (uint i = 0; i < BLOCK_TOKENS * ROW_VECTORS; ++i) sums[i] = vec4(0.0);
  bool has_tokens = first_token + token_lane * BLOCK_TOKENS < pc.n_tokens;

  uint half_index = gl_WorkGroupID.z;
  uint steps = (pc.cols + STEP_K - 1u) / STEP_K;
  uint step_begin = half_index * (steps / pc.halves);
  uint step_end = (half_index + 1u) * (steps / pc.halves);
  stage(step_begin, 0u, first_row, first_token, blocks_per_row);
  barrier();
  for (uint step = step_begin, slot = 0; step < step_end; ++step, slot ^= 1u) {
    // The other buffer was last read in the previous step, before its barrier.
    if (step + 1u < step_end) stage(step + 1u, slot ^ 1u, first_row, first_token, blocks_per_row);
    if (has_tokens) {
      [[unroll]] for (uint k = 0; k < STEP_K; ++k) {
        uint inputs = slot * INPUT_TILE + k * INPUT_STRIDE + 2u * token_lane;
        vec4 low = staged_inputs[inputs];
        vec4 high = staged_inputs[inputs + 1u];
        [[unroll]] for (uint v = 0; v < ROW_VECTORS; ++v) {
          vec4 w = staged_weights[slot * WEIGHT_TILE + k * WEIGHT_STRIDE + v * ROW_LANES +
                                  row_lane];
          [[unroll]] for (uint t = 0; t < 4u; ++t) {
            sums[t * ROW_VECTORS + v] += w * low[t];
            sums[(4u + t) * ROW_VECTORS + v] += w * high[t];
          }
        }
      }
    }
    barrier();  // the next step's tiles are staged, and this step's may be overwritten
  }

  bool accumulate = (pc.flags & ACCUMULATE) != 0u;
  [[unroll]] for (uint t = 0; t < BLOCK_TOKENS; ++t) {
    uint token = first_token + token_lane * BLOCK_TOKENS + t;
    if (token >= pc.n_tokens) break;
    [[unroll]] for (uint v = 0; v < ROW_VECTORS; ++v)
      [[unroll]] for (uint i = 0; i < 4u; ++i) {
        uint row = first_row + (v * ROW_LANES + row_lane) * 4u + i;
        if (row >= pc.rows) continue;
        uint index = token * pc.out_stride + pc.out_offset + row;
        float value = sums[t * ROW_VECTORS + v][i];
        if (half_index == 1u)
          partials[index] = value;
        else
          y[index] = accumulate ? y[index] + value : value;
      }
  }
}
