// The mat-vec inner loop for one weight type: a row is cut into chunks of CHUNK elements, and a
// chunk's slice of x is loaded once (load_chunk_input) and then dotted with the same chunk of several
// rows. Loading a row's chunk (load_chunk) and using it (chunk_dot) are separate steps so that the
// caller can issue every row's loads before it waits for any of them. Q4_K, Q6_K and Q8_0 chunks read their quants with 16-byte loads from the device
// layout of src/backend/vulkan/weight_layout.h and fold the scales into a few multiplies; the other
// types dequantize UNIT elements at a time (dequant.glsl). Expects x4/x (binding 1) and load_x4/load_x
// from matvec.comp.

// Quants to floats without int-to-float conversions, which run at a fraction of the FMA rate on
// some GPUs (NVIDIA: 16 per clock per SM): a value v < 2^23 placed in the mantissa of 2^23 is the
// float 2^23 + v exactly, so subtracting 2^23 (and `offset`, the type's zero point) gives v - offset.
vec4 quants_to_float(uvec4 q, float offset) {
  return uintBitsToFloat(q | 0x4B000000u) - (8388608.0 + offset);
}

#if defined(WEIGHT_Q4_K)
#include "k_scales.glsl"

// Chunk c of block b: the 16 bytes qs[16 * (c % 8) ..] of the block, whose low nibbles are elements
// 64j + 16h + i and high nibbles elements 64j + 32 + 16h + i (j = (c % 8) / 2, h = c % 2, i < 16):
// sub-blocks 2j and 2j + 1.
const uint CHUNK = 32, CHUNKS_PER_BLOCK = 8;
struct ChunkInput {
  vec4 low[4];
  vec4 high[4];
  float low_sum;
  float high_sum;
};
void load_chunk_input(uint chunk, inout float sum_squares, out ChunkInput ci) {
  uint in_block = chunk % CHUNKS_PER_BLOCK;
  uint first = (chunk / CHUNKS_PER_BLOCK) * 256u + 64u * (in_block / 2u) + 16u * (in_block % 2u);
  vec4 low_total = vec4(0.0), high_total = vec4(0.0);
  for (uint i = 0; i < 4u; ++i) {
    ci.low[i] = load_x4(first / 4u + i, sum_squares);
    ci.high[i] = load_x4((first + 32u) / 4u + i, sum_squares);
    low_total += ci.low[i];
    high_total += ci.high[i];
  }
  ci.low_sum = dot(low_total, vec4(1.0));
  ci.high_sum = dot(high_total, vec4(1.0));
}
struct ChunkWeights {
  uvec4 header;  // d, dmin, scales
  uvec4 qs;
};
ChunkWeights load_chunk(uint row_start, uint blocks_per_row, uint chunk) {
  uint block = row_start + (chunk / CHUNKS_PER_BLOCK) * BLOCK_Q4_K_BYTES;
  uint in_block = chunk % CHUNKS_PER_BLOCK;
  return ChunkWeights(weight_vec4[block >> 4],
                      weight_vec4[(block + BLOCK_Q4_K_QS + 16u * in_block) >> 4]);
}
float chunk_dot(uint chunk, ChunkWeights w, ChunkInput ci) {
  uint in_block = chunk % CHUNKS_PER_BLOCK;
  vec2 d = unpackHalf2x16(w.header.x);  // d, dmin
  uvec4 sm = k_scales_mins(w.header, in_block & ~1u);
  float low_dot = 0.0, high_dot = 0.0;
  for (uint k = 0; k < 4u; ++k) {
    uvec4 bytes = uvec4(w.qs[k]) >> uvec4(0u, 8u, 16u, 24u);
    low_dot += dot(quants_to_float(bytes & 15u, 0.0), ci.low[k]);
    high_dot += dot(quants_to_float((bytes >> 4) & 15u, 0.0), ci.high[k]);
  }
  return d.x * (float(sm.x) * low_dot + float(sm.z) * high_dot) -
         d.y * (float(sm.y) * ci.low_sum + float(sm.w) * ci.high_sum);
}

#elif defined(WEIGHT_Q6_K)
// Chunk c of block b (c < 8): half h = c % 2 of the device chunk j = c / 2 (dequant.glsl describes
// the layout): 16 bytes of its low bits, whose low nibbles are its elements 16h + i and high nibbles
// 32 + 16h + i, and its 16 bytes of high bits, at 2h and 4 + 2h: elements 64j + 16h + i and + 32.
const uint CHUNK = 32, CHUNKS_PER_BLOCK = 8;
struct ChunkInput {
  vec4 low[4];   // elements 64j + 16h + 4k ..
  vec4 high[4];  // + 32
};
void load_chunk_input(uint chunk, inout float sum_squares, out ChunkInput ci) {
  uint in_block = chunk % CHUNKS_PER_BLOCK;
  uint first = (chunk / CHUNKS_PER_BLOCK) * 256u + 64u * (in_block / 2u) + 16u * (in_block % 2u);
  for (uint k = 0; k < 4u; ++k) {
    ci.low[k] = load_x4(first / 4u + k, sum_squares);
    ci.high[k] = load_x4((first + 32u) / 4u + k, sum_squares);
  }
}
struct ChunkWeights {
  uvec4 ql;
  uvec4 qh;
  uvec4 scales;  // the block's 16 int8 scales
  float d;
};
ChunkWeights load_chunk(uint row_start, uint blocks_per_row, uint chunk) {
  uint b = chunk / CHUNKS_PER_BLOCK;
  uint in_block = chunk % CHUNKS_PER_BLOCK;
  uint device_chunk = row_start + QUANT_BYTES * b + 48u * (in_block / 2u);
  return ChunkWeights(
      weight_vec4[(device_chunk + 16u * (in_block % 2u)) >> 4],
      weight_vec4[(device_chunk + 32u) >> 4],
      weight_vec4[(row_start + QUANT_BYTES * blocks_per_row + SCALE_BYTES * b) >> 4],
      load_f16(row_start + (QUANT_BYTES + SCALE_BYTES) * blocks_per_row + 2u * b));
}
// The int8 scale `index` of the block's 16 (one per 16 elements).
float q6_scale(uvec4 scales, uint index) {
  uint word = index < 4u ? scales.x : index < 8u ? scales.y : index < 12u ? scales.z : scales.w;
  return float(sign_extend_u8(word >> (8u * (index % 4u))));
}
float chunk_dot(uint chunk, ChunkWeights w, ChunkInput ci) {
  uint in_block = chunk % CHUNKS_PER_BLOCK;
  uint h = in_block % 2u;
  float low_dot = 0.0, high_dot = 0.0;
  for (uint k = 0; k < 4u; ++k) {
    uvec4 shifts = uvec4(0u, 8u, 16u, 24u);
    uvec4 ql = uvec4(w.ql[k]) >> shifts;
    uvec4 qh = uvec4(w.qh[k]) >> (shifts + 2u * h);
    low_dot += dot(quants_to_float((ql & 15u) | ((qh & 3u) << 4), 32.0), ci.low[k]);
    high_dot += dot(quants_to_float(((ql >> 4) & 15u) | (((qh >> 4) & 3u) << 4), 32.0),
                    ci.high[k]);
  }
  // Scale 4j + h for the low elements, 4j + 2 + h for the high ones (j = in_block / 2).
  uint scale_index = 2u * in_block - h;
  return w.d * (q6_scale(w.scales, scale_index) * low_dot +
                q6_scale(w.scales, scale_index + 2u) * high_dot);
}

#elif defined(WEIGHT_Q8_0)
// Chunk c: block c, its 32 quants in two 16-byte loads.
const uint CHUNK = 32;
struct ChunkInput {
  vec4 x[8];
};
void load_chunk_input(uint chunk, inout float sum_squares, out ChunkInput ci) {
  for (uint k = 0; k < 8u; ++k) ci.x[k] = load_x4(chunk * 8u + k, sum_squares);
}
struct ChunkWeights {
  uvec4 low;   // quants 0..15
  uvec4 high;  // quants 16..31
  float d;
};
ChunkWeights load_chunk(uint row_start, uint blocks_per_row, uint chunk) {
  uint qs = row_start >> 4, halves = 2u * blocks_per_row;
  return ChunkWeights(weight_vec4[qs + q8_0_vector_slot(2u * chunk, halves)],
                      weight_vec4[qs + q8_0_vector_slot(2u * chunk + 1u, halves)],
                      load_f16(row_start + QS_BYTES * blocks_per_row + 2u * chunk));
}
float chunk_dot(uint chunk, ChunkWeights w, ChunkInput ci) {
  float total = 0.0;
  for (uint k = 0; k < 4u; ++k) {
    // Flipping the sign bit turns an int8 q into the uint8 q + 128.
    uvec4 low = ((uvec4(w.low[k]) >> uvec4(0u, 8u, 16u, 24u)) & 0xffu) ^ 0x80u;
    uvec4 high = ((uvec4(w.high[k]) >> uvec4(0u, 8u, 16u, 24u)) & 0xffu) ^ 0x80u;
    total += dot(quants_to_float(low, 128.0), ci.x[k]) +
             dot(quants_to_float(high, 128.0), ci.x[4u + k]);
  }
  return w.d * total;
}

#else
// Any other type: a chunk is one dequantization unit.
const uint CHUNK = UNIT;
struct ChunkInput {
  float x[UNIT];
};
void load_chunk_input(uint chunk, inout float sum_squares, out ChunkInput ci) {
  for (uint i = 0; i < UNIT; ++i) ci.x[i] = load_x(chunk * UNIT + i, sum_squares);
}
struct ChunkWeights {
  float v[UNIT];
};
ChunkWeights load_chunk(uint row_start, uint blocks_per_row, uint chunk) {
  ChunkWeights w;
  dequantize_row_unit(row_start, blocks_per_row, chunk, w.v);
  return w;
}
float chunk_dot(uint chunk, ChunkWeights w, ChunkInput ci) {
  float total = 0.0;
  for (uint i = 0; i < UNIT; ++i) total += w.v[i] * ci.x[i];
  return total;
}
#endif
