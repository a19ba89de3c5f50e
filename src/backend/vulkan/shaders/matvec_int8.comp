#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_spirv_intrinsics : require
// The mat-vec of matvec.comp (same bindings and flags) for the types the CPU backend's fast path
// multiplies with int8 activations (src/backend/cpu/matmul.h), with x quantized to int8 exactly as
// that path quantizes it and the products summed by integer dot products, so that the GPU and the
// CPU multiply the same numbers:
// 1. Each workgroup quantizes x once into shared memory (stage_x): v = x, or with NORM_INPUT
//    x * rms_scale * norm_weight (for Q8_K the RMS scale goes to the row sums instead: see
//    quantize_blocks); then the CPU's activation format for the weight type
//    (src/backend/cpu/quantize_activations.h): for K-quants Q8_K (blocks of 256, levels
//    roundEven(v * -127 / m) where m is the block's first element of largest magnitude, scale
//    -m / 127), for the others Q8_1 (blocks of 32, levels roundEven(v * 127 / max|v|), scale
//    max|v| / 127 rounded to F16). Reading x as int8 from shared memory instead of as floats from
//    the caches for every row, and 4 multiply-adds per instruction, take most of the work off the
//    weight loads.
// 2. Each subgroup computes ROWS rows at a time, the workgroup ROWS x subgroups rows per pass and
//    pc.passes passes (the host sizes the grid so that the staging of x is shared by enough rows).
//    A row is cut into chunks of 64 elements; each invocation takes CHUNKS chunks of every row of
//    the pass per step (matvec_int8_chunks.glsl), all of them loaded before any is used.
// The first pass's weights are loaded before x is staged, so their latency hides the staging.
// 3. With X_PREQUANTIZED (K-quant and Q8_0 weights) there is no staging: binding 1 holds x already
//    quantized (quantized_activations.glsl, a scale per 16 values) by the int8 mat-vec that
//    produced it, with the norm weights applied; the RMS scale comes from the groups' sums of
//    squares and goes to the row sums.
// 4. With QUANTIZE_OUTPUT the kernel is that producer: each workgroup pass quantizes the rows it
//    wrote into binding 7 (matvec_int8_output_quantization.glsl), times the next norm's weights
//    (binding 8) with QUANTIZE_NORMED. That replaces a staging of x in every workgroup of every
//    consumer (docs/perf/README.md, v4).
// Needs subgroup arithmetic and the integer dot product feature (the host checks both, and cols a
// multiple of 64 up to MAX_COLS; otherwise it records matvec.comp).

#include "common.glsl"
#include "reduce.glsl"
#include "dequant.glsl"

layout(constant_id = 1) const uint ROWS = 1;
layout(constant_id = 2) const uint CHUNKS = 1;
// The widest row: shared memory holds its levels (1 byte per element) and up to three floats per
// 32.
const uint MAX_COLS = 16384;

layout(binding = 0) readonly buffer WeightVectors { uvec4 weight_vec4[]; };
#ifdef X_PREQUANTIZED
layout(binding = 1) readonly buffer QuantizedInputVectors { uvec4 xq_vec4[]; };
#else
layout(binding = 1) readonly buffer InputVectors { vec4 x4[]; };
#endif
layout(binding = 2) buffer Output { float y[]; };
layout(binding = 3) readonly buffer NormWeightVectors { vec4 norm_weight4[]; };

const uint NORM_INPUT = 1u, ACCUMULATE = 2u, SWIGLU_PAIR = 4u;

#include "matvec_epilogue.glsl"

// After the epilogue's flags (ROPE 8, STORE 16).
const uint QUANTIZE_OUTPUT = 32u, QUANTIZE_NORMED = 64u;
layout(binding = 7) writeonly buffer QuantizedOutput { uint quantized_out[]; };
layout(binding = 8) readonly buffer NextNormWeight { float next_norm_weight[]; };
#include "quantized_activations.glsl"

layout(push_constant) uniform Push {
  uint cols;           // elements per row (a multiple of 64, at most MAX_COLS)
  uint rows;           // rows in this dispatch
  uint row_bytes;      // bytes from one row to the next (a multiple of 16)
  uint weight_offset;  // byte offset of the first row within the weights binding (a multiple of 16)
  uint out_offset;     // index in y of the first row's result
  uint flags;
  uint pair_offset;    // SWIGLU_PAIR: bytes from a row of W to the same row of V
  float eps;           // NORM_INPUT
  uint passes;         // row passes per workgroup
  MatVecEpilogue epilogue;  // ROPE, STORE
} pc;

// The packed dot product of four signed bytes (OpSDot, SPV_KHR_integer_dot_product).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6018, 6019],
                  id = 4450)
int dot_packed_int8(uint a, uint b, spirv_literal int packed_vector_format);
int dot4(uint a, uint b) { return dot_packed_int8(a, b, 0); }

#if defined(WEIGHT_Q4_K) || defined(WEIGHT_Q5_K) || defined(WEIGHT_Q6_K)
#define Q8_K_ACTIVATIONS
#endif
// The types whose dot products need the sums of x's blocks (for a minimum or an offset).
#if !defined(WEIGHT_Q6_K) && !defined(WEIGHT_Q8_0)
#define USES_X_SUMS
#endif

#ifndef X_PREQUANTIZED
// x as int8, in blocks of 32 whatever the format: block k's levels are x_levels[2k] and [2k + 1]
// (4 per word, lowest byte first), its scale x_scales[k] (a Q8_K scale is repeated for each of its
// blocks of 32) and, for the types that need it, the sum of its levels times the scale x_sums[k].
shared uvec4 x_levels[MAX_COLS / 16];
shared float x_scales[MAX_COLS / 32];
#ifdef USES_X_SUMS
shared float x_sums[MAX_COLS / 32];
#endif

uvec4 x_level_vector(uint i) { return x_levels[i]; }
// The scales of the four groups of 16 levels of chunk c (x blocks 2c and 2c + 1): here one scale
// per block.
vec4 x_chunk_scales(uint chunk) {
  return vec4(vec2(x_scales[2u * chunk]), vec2(x_scales[2u * chunk + 1u]));
}

#ifndef Q8_K_ACTIVATIONS
// Q8_1 staging: per block of 32, the factor that turns a value into its level (the CPU's id).
shared float x_inverse_scales[MAX_COLS / 32];
// Vectors of 4 an invocation loads at a time in its passes over x, all before it uses any.
const uint STAGE_UNROLL = 4;
#endif

float max_component(vec4 v) { return max(max(v.x, v.y), max(v.z, v.w)); }

// Elements 4i .. 4i + 3 of x, times the norm weights with NORM_INPUT (the RMS scale not applied).
vec4 weighted_input(uint i) {
  vec4 value = x4[i];
  if ((pc.flags & NORM_INPUT) != 0u) value *= norm_weight4[i];
  return value;
}
// Elements 4i .. 4i + 3 of the vector the rows are multiplied with, as the CPU computes them
// (x * scale * w).
vec4 input_value(uint i, float rms_scale) {
  vec4 value = x4[i];
  if ((pc.flags & NORM_INPUT) != 0u) value = value * rms_scale * norm_weight4[i];
  return value;
}

#ifdef Q8_K_ACTIVATIONS
// Per subgroup, the sum of x^2 over its blocks (NORM_INPUT).
shared float x_sum_squares[WORKGROUP_SIZE];

// Q8_K: a subgroup per block of 256 (64 vectors of 4) finds the block's first element of the
// largest magnitude, then quantizes the block. With NORM_INPUT the blocks are quantized before the
// RMS scale is known, from x * norm_weight: the scale cancels in the levels (v * -127 / m), so it is
// applied to the sums instead (rms_scale_after_staging), which takes a reduction and its barriers
// off the path to the first dot product. (The levels may then differ from the CPU's where its
// rounding of v * scale lands on a tie differently: rarely, and by one level.)
void quantize_blocks() {
  uint lane = gl_SubgroupInvocationID;
  float sum_squares = 0.0;
  for (uint block = gl_SubgroupID; block < pc.cols / 256u; block += gl_NumSubgroups) {
    uint first = 64u * block;
    // The largest magnitude and the first element that has it: each lane's own, then the
    // subgroup's (the lanes' elements interleave, so the first is the smallest index).
    float amax = 0.0;
    uint first_largest = 256u;
    for (uint i = lane; i < 64u; i += gl_SubgroupSize) {
      vec4 raw = x4[first + i];
      sum_squares += dot(raw, raw);
      vec4 magnitude = abs(weighted_input(first + i));
      for (uint e = 0; e < 4u; ++e) {
        if (magnitude[e] > amax || (magnitude[e] == amax && 4u * i + e < first_largest)) {
          amax = magnitude[e];
          first_largest = 4u * i + e;
        }
      }
    }
    float block_amax = subgroupMax(amax);
    first_largest = subgroupMin(amax == block_amax ? first_largest : 256u);
    amax = block_amax;
    float inverse_scale = 0.0, scale = 0.0;
    if (amax > 0.0) {
      inverse_scale = -127.0 / weighted_input(first + first_largest / 4u)[first_largest % 4u];
      scale = 1.0 / inverse_scale;
    }
    for (uint i = lane; i < 64u; i += gl_SubgroupSize)
      x_levels[(first + i) / 4u][(first + i) % 4u] =
          pack_levels(roundEven(weighted_input(first + i) * inverse_scale));
    for (uint k = lane; k < 8u; k += gl_SubgroupSize) x_scales[8u * block + k] = scale;
  }
  sum_squares = subgroupAdd(sum_squares);
  if (subgroupElect()) x_sum_squares[gl_SubgroupID] = sum_squares;
}

// The RMS scale the staged x still needs (1 without NORM_INPUT): every row sum is multiplied by it.
// Called after stage_x's barrier.
float rms_scale_after_staging() {
  if ((pc.flags & NORM_INPUT) == 0u) return 1.0;
  float sum_squares = 0.0;
  for (uint s = 0; s < gl_NumSubgroups; ++s) sum_squares += x_sum_squares[s];
  return 1.0 / sqrt(sum_squares / float(pc.cols) + pc.eps);
}
#else
// Q8_1, in passes that every invocation takes part in (the blocks of 32 are small: a pass per
// block would leave most invocations idle and load x one vector at a time):
// 1. each vector of 4: its largest magnitude (before the RMS scale, which changes no order) into
//    x_levels' word of the vector (scratch), and x^2 summed for the norm;
// 2. each block: its first element of the largest magnitude, which with the RMS scale gives the
//    block's scale and inverse scale as the CPU computes them;
// 3. each vector: its levels, over its scratch word.
void quantize_blocks() {
  uint n_vectors = pc.cols / 4u;
  float sum_squares = 0.0;
  const uint stride = STAGE_UNROLL * WORKGROUP_SIZE;
  for (uint base = gl_LocalInvocationIndex; base < n_vectors; base += stride) {
    vec4 raw[STAGE_UNROLL], weighted[STAGE_UNROLL];
    for (uint u = 0; u < STAGE_UNROLL; ++u) {
      uint i = min(base + u * WORKGROUP_SIZE, n_vectors - 1u);
      raw[u] = x4[i];
      weighted[u] = (pc.flags & NORM_INPUT) != 0u ? raw[u] * norm_weight4[i] : raw[u];
    }
    for (uint u = 0; u < STAGE_UNROLL; ++u) {
      uint i = base + u * WORKGROUP_SIZE;
      if (i >= n_vectors) continue;
      sum_squares += dot(raw[u], raw[u]);
      x_levels[i / 4u][i % 4u] = floatBitsToUint(max_component(abs(weighted[u])));
    }
  }
  barrier();
  float rms_scale = 1.0;
  if ((pc.flags & NORM_INPUT) != 0u)
    rms_scale = 1.0 / sqrt(workgroup_sum(sum_squares) / float(pc.cols) + pc.eps);

  const uint VECTORS_PER_BLOCK = 8u;
  // An invocation per block.
  for (uint block = gl_LocalInvocationIndex; block < pc.cols / 32u; block += WORKGROUP_SIZE) {
    float block_amax = 0.0;
    uint first_vector = VECTORS_PER_BLOCK;
    for (uint v = 0; v < VECTORS_PER_BLOCK; ++v) {
      float magnitude = uintBitsToFloat(x_levels[(block * VECTORS_PER_BLOCK + v) / 4u][v % 4u]);
      if (magnitude > block_amax) {
        block_amax = magnitude;
        first_vector = v;
      }
    }
    // The element of that magnitude in its vector (the first, as the CPU takes the first), with
    // the RMS scale: the CPU's largest value of the block.
    float largest = 0.0;
    if (first_vector < VECTORS_PER_BLOCK) {
      uint vector_index = block * VECTORS_PER_BLOCK + first_vector;
      vec4 magnitude = abs(weighted_input(vector_index));
      uint e = magnitude.x == block_amax ? 0u
             : magnitude.y == block_amax ? 1u
             : magnitude.z == block_amax ? 2u
                                         : 3u;
      largest = input_value(vector_index, rms_scale)[e];
    }
    // id = 127 / max|v|, scale max|v| / 127 rounded to F16.
    x_inverse_scales[block] = largest != 0.0 ? 127.0 / abs(largest) : 0.0;
    x_scales[block] = unpackHalf2x16(packHalf2x16(vec2(abs(largest) / 127.0, 0.0))).x;
  }
  barrier();

  for (uint base = gl_LocalInvocationIndex; base < n_vectors; base += stride) {
    vec4 values[STAGE_UNROLL];
    for (uint u = 0; u < STAGE_UNROLL; ++u)
      values[u] = input_value(min(base + u * WORKGROUP_SIZE, n_vectors - 1u), rms_scale);
    for (uint u = 0; u < STAGE_UNROLL; ++u) {
      uint i = base + u * WORKGROUP_SIZE;
      if (i >= n_vectors) continue;
      float inverse = x_inverse_scales[i / VECTORS_PER_BLOCK];
      x_levels[i / 4u][i % 4u] = pack_levels(roundEven(values[u] * inverse));
    }
  }
}
// Q8_1 staging applies the RMS scale itself.
float rms_scale_after_staging() { return 1.0; }
#endif

// Quantizes x into shared memory as the CPU does. Every invocation calls it (it has barriers).
void stage_x() {
  quantize_blocks();
  barrier();
#ifdef USES_X_SUMS
  for (uint block = gl_LocalInvocationIndex; block < pc.cols / 32u; block += WORKGROUP_SIZE) {
    int sum = 0;
    for (uint h = 0; h < 2u; ++h)
      for (uint w = 0; w < 4u; ++w)
        for (uint b = 0; b < 4u; ++b)
          sum += bitfieldExtract(int(x_levels[2u * block + h][w]), int(8u * b), 8);
    x_sums[block] = x_scales[block] * float(sum);
  }
  barrier();
#endif
}

#else
// The chunks' x straight from the producer's quantized vector: block k of 32 levels is groups 2k
// and 2k + 1.
uvec4 x_level_vector(uint i) { return xq_vec4[quantized_group_slot(i, pc.cols)]; }
// The scales of chunk c's four groups (one aligned vector: the scales start at word n / 4, a
// multiple of 4).
vec4 x_chunk_scales(uint chunk) {
  return uintBitsToFloat(xq_vec4[quantized_scales_word(pc.cols) / 4u + chunk]);
}

// The sums of squares of the 4 groups of 16 values of chunk index `chunk` (each chunk index of a
// row once, whichever values the type's chunk multiplies): a subgroup's lanes add them over their
// chunks of a row, which covers every group once, and prequantized_rms_scale adds up the lanes.
float chunk_sum_squares(uint chunk) {
  vec4 squares = uintBitsToFloat(xq_vec4[quantized_sum_squares_word(pc.cols) / 4u + chunk]);
  return dot(squares, vec4(1.0));
}

// The RMS scale of the producer's raw values (1 without NORM_INPUT), for the row sums, from each
// lane's chunk_sum_squares.
float prequantized_rms_scale(float lane_sum_squares) {
  if ((pc.flags & NORM_INPUT) == 0u) return 1.0;
  return 1.0 / sqrt(subgroupAdd(lane_sum_squares) / float(pc.cols) + pc.eps);
}
#endif

#include "matvec_int8_chunks.glsl"
#include "matvec_int8_output_quantization.glsl"

// Per subgroup: the ROWS row sums and the ROWS sums of the paired matrix.
const uint VALUES = 2u * ROWS;

#ifdef ROPE_ACROSS_SUBGROUPS
// One row per subgroup (the host records it so) with a RoPE epilogue: the two rows of a pair come
// from neighbouring subgroups (an even first row, an even number of subgroups), which hand each
// other their row's result here.
shared float subgroup_rows[WORKGROUP_SIZE];

// The result of the RoPE partner (row ^ 1) of this subgroup's row `value`. Every invocation calls
// it (it has barriers); with `more_passes` the next pass may write subgroup_rows again.
float rope_partner_across_subgroups(float value, bool more_passes) {
  if (subgroupElect()) subgroup_rows[gl_SubgroupID] = value;
  barrier();
  float partner = subgroup_rows[gl_SubgroupID ^ 1u];
  if (more_passes) barrier();
  return partner;
}
#endif

void main() {
  uint rows_per_pass = ROWS * gl_NumSubgroups;
  uint workgroup_first_row = linear_workgroup_id() * rows_per_pass * pc.passes;
  uint chunks_per_row = pc.cols / CHUNK;
  uint lane = gl_SubgroupInvocationID;
  uint chunks_per_step = gl_SubgroupSize * CHUNKS;
  // K-quants: the "_pair" variants (SWIGLU_PAIR_KERNEL) take the pair, since a flag known only at
  // run time gives every mat-vec the registers of the pair's loads (on the H200: +2.5 % SmolLM2,
  // +3.9 % Qwen3-4B). The other types keep the flag: split so, Q8_0 lost 3-4 % (docs/perf, v4),
  // its other kernels being faster with those registers (v10); only its prequantized pair at one
  // row per subgroup has a variant of its own (v11), and its q, k and v take "_unpaired" variants
  // (UNPAIRED_KERNEL), whose fewer registers fit all three mat-vecs' workgroups on the GPU at once
  // (v12).
#if defined(SWIGLU_PAIR_KERNEL)
  const bool paired = true;
#elif defined(Q8_K_ACTIVATIONS) || defined(UNPAIRED_KERNEL)
  const bool paired = false;
#else
  bool paired = (pc.flags & SWIGLU_PAIR) != 0u;
#endif
  bool quantizing = (pc.flags & QUANTIZE_OUTPUT) != 0u;
  float row_scale = 1.0;  // rms_scale_after_staging, once x is staged

  for (uint pass = 0; pass < pc.passes; ++pass) {
    uint first_row = workgroup_first_row + pass * rows_per_pass + gl_SubgroupID * ROWS;
    // Rows past the end compute the last row again and are not written: no branch between loads,
    // and every invocation reaches stage_x's barriers.
    uint row_starts[ROWS];
    for (uint r = 0; r < ROWS; ++r)
      row_starts[r] = pc.weight_offset + min(first_row + r, pc.rows - 1u) * pc.row_bytes;
    // Loaded now, used after the sums: lane r writes row r (below), with these inputs.
    RowInputs row_inputs_of_lane =
        row_inputs(pc.out_offset + min(first_row + min(lane, ROWS - 1u), pc.rows - 1u), pc.flags,
                   pc.epilogue);
    float next_weights[ROWS];
    for (uint r = 0; r < ROWS; ++r) next_weights[r] = quantizing ? next_weight(first_row + r) : 1.0;

    float values[VALUES];
    for (uint v = 0; v < VALUES; ++v) values[v] = 0.0;
#ifdef X_PREQUANTIZED
    float lane_sum_squares = 0.0;
#endif
    for (uint step = 0; step < chunks_per_row; step += chunks_per_step) {
      // Chunks past the end of the row load the last chunk again and add nothing.
      uint chunks[CHUNKS];
      bool valid[CHUNKS];
      for (uint c = 0; c < CHUNKS; ++c) {
        uint chunk = step + c * gl_SubgroupSize + lane;
        valid[c] = chunk < chunks_per_row;
        chunks[c] = min(chunk, chunks_per_row - 1u);
      }
      ChunkWeights weights[ROWS][CHUNKS];
      ChunkWeights pair_weights[ROWS][CHUNKS];
      for (uint r = 0; r < ROWS; ++r)
        for (uint c = 0; c < CHUNKS; ++c) {
          weights[r][c] = load_chunk(row_starts[r], chunks[c]);
          if (paired) pair_weights[r][c] = load_chunk(row_starts[r] + pc.pair_offset, chunks[c]);
        }
#ifndef X_PREQUANTIZED
      if (pass == 0u && step == 0u) {
        stage_x();
        row_scale = rms_scale_after_staging();
      }
#endif
      // x right after the weights: nothing waits between their loads.
      ChunkInput inputs[CHUNKS];
      for (uint c = 0; c < CHUNKS; ++c) inputs[c] = load_chunk_input(chunks[c]);
#ifdef X_PREQUANTIZED
      if (pass == 0u && (pc.flags & NORM_INPUT) != 0u)
        for (uint c = 0; c < CHUNKS; ++c)
          if (valid[c]) lane_sum_squares += chunk_sum_squares(chunks[c]);
#endif
      for (uint c = 0; c < CHUNKS; ++c) {
        if (!valid[c]) continue;
        for (uint r = 0; r < ROWS; ++r) {
          values[r] += chunk_dot(chunks[c], weights[r][c], inputs[c]);
          if (paired) values[ROWS + r] += chunk_dot(chunks[c], pair_weights[r][c], inputs[c]);
        }
      }
    }
#ifdef X_PREQUANTIZED
    if (pass == 0u) row_scale = prequantized_rms_scale(lane_sum_squares);
#endif
    // The pair's sums only where there is a pair: each reduction costs (on the H200 the reductions
    // were 6 % of a SmolLM2 token; docs/perf/README.md, v5).
    for (uint v = 0; v < VALUES; ++v)
      if (v < ROWS || paired) values[v] = subgroupAdd(values[v]) * row_scale;

#ifdef ROPE_ACROSS_SUBGROUPS
    const float partner = rope_partner_across_subgroups(values[0], pass + 1u < pc.passes);
#endif
    // Lane r writes row r (constant indices into `values`: a variable index would put the array in
    // local memory).
    for (uint r = 0; r < ROWS; ++r) {
      if (lane != r % gl_SubgroupSize || first_row + r >= pc.rows) continue;
      float total = values[r];
      if (paired) {
        float up = values[ROWS + r];
        total = total / (1.0 + exp(-total)) * up;
      }
#ifdef ROPE_ACROSS_SUBGROUPS
      const float partner_value = partner;
#else
      const float partner_value = values[r ^ 1u];  // the pair's other row, in this subgroup
#endif
      float written = write_row_with(pc.out_offset + first_row + r, total, partner_value, pc.flags,
                                     pc.epilogue, row_inputs_of_lane);
      if (quantizing) keep_pass_output(gl_SubgroupID * ROWS + r, written, next_weights[r]);
    }
    if (quantizing)
      quantize_pass(workgroup_first_row + pass * rows_per_pass, pass + 1u < pc.passes);
  }
}
