// The inner loop of matvec_int8.comp for one weight type: a row is cut into chunks of CHUNK = 64
// elements (two blocks of x); load_chunk reads a chunk of a row from the device layout of
// src/backend/vulkan/weight_layout.h with 16-byte loads, load_chunk_input the chunk's int8 x from
// shared memory (or the producer's quantized vector), and chunk_dot multiplies them with dot4 (four
// int8 products per call), applying the weight and x scales in float. Expects weight_vec4,
// x_level_vector, x_chunk_scales, x_sums (when staged) and dot4 from
// matvec_int8.comp, and the layout constants (BLOCK_BYTES, OFFSET_*, QS_BYTES, QUANT_BYTES,
// SCALE_BYTES) and load_u32/load_f16 from dequant.glsl.

const uint CHUNK = 64;

// The chunk's x: its two blocks of 32 levels, the scales of their halves of 16 (staged x has one
// scale per block, repeated; a producer's quantized x one per 16) and, for the types that need
// them, the sums of their levels times the scales.
struct ChunkInput {
  uvec4 levels[4];  // first block: [0], [1]; second block: [2], [3]
  vec4 scales;      // of levels[0] .. levels[3]
#ifdef USES_X_SUMS
  vec2 sums;
#endif
};

// The dot product of 16 packed levels with 16 levels of x.
int dot16(uvec4 w, uvec4 x) {
  return dot4(w.x, x.x) + dot4(w.y, x.y) + dot4(w.z, x.z) + dot4(w.w, x.w);
}

#ifdef USES_X_SUMS
// Block `block`'s level sum times its scales: staged with x, or counted here from its levels (a
// producer's quantized x carries no sums: 16 dot4 per chunk cost less than a load).
float x_sum(uint block, uvec4 first_half, uvec4 second_half, vec2 scales) {
#ifdef X_PREQUANTIZED
  const uvec4 ONES = uvec4(0x01010101u);
  return scales.x * float(dot16(first_half, ONES)) + scales.y * float(dot16(second_half, ONES));
#else
  return x_sums[block];
#endif
}
#endif

// Every type's chunk c multiplies elements 64c .. 64c + 63 (the device layouts of Q8_0 and Q6_K are
// repacked so): x blocks 2c and 2c + 1, groups 4c .. 4c + 3.
ChunkInput load_chunk_input(uint chunk) {
  ChunkInput ci;
  ci.levels = uvec4[4](x_level_vector(4u * chunk), x_level_vector(4u * chunk + 1u),
                       x_level_vector(4u * chunk + 2u), x_level_vector(4u * chunk + 3u));
  ci.scales = x_chunk_scales(chunk);
#ifdef USES_X_SUMS
  ci.sums = vec2(x_sum(2u * chunk, ci.levels[0], ci.levels[1], ci.scales.xy),
                 x_sum(2u * chunk + 1u, ci.levels[2], ci.levels[3], ci.scales.zw));
#endif
  return ci;
}

const uint NIBBLES = 0x0f0f0f0fu;

#if defined(WEIGHT_Q4_K) || defined(WEIGHT_Q5_K)
#include "k_scales.glsl"

// Chunk j (< 4) of block b: the 32 bytes qs[32j ..] of the block, whose low nibbles are sub-block
// 2j (elements 64j + l) and high nibbles sub-block 2j + 1 (64j + 32 + l): x blocks 8b + 2j, + 1.
// Q5_K adds bit 2j (low) and 2j + 1 (high) of qh[l] as bit 4.
const uint CHUNKS_PER_BLOCK = 4;
struct ChunkWeights {
  uvec4 header;  // d, dmin, scales
  uvec4 qs[2];
#if defined(WEIGHT_Q5_K)
  uvec4 qh[2];
#endif
};
ChunkWeights load_chunk(uint row_start, uint chunk) {
  uint block = row_start + (chunk / CHUNKS_PER_BLOCK) * BLOCK_BYTES;
  uint qs = (block + OFFSET_QS + 32u * (chunk % CHUNKS_PER_BLOCK)) >> 4;
#if defined(WEIGHT_Q5_K)
  uint qh = (block + OFFSET_QH) >> 4;
  return ChunkWeights(weight_vec4[block >> 4], uvec4[2](weight_vec4[qs], weight_vec4[qs + 1u]),
                      uvec4[2](weight_vec4[qh], weight_vec4[qh + 1u]));
#else
  return ChunkWeights(weight_vec4[block >> 4], uvec4[2](weight_vec4[qs], weight_vec4[qs + 1u]));
#endif
}
float chunk_dot(uint chunk, ChunkWeights w, ChunkInput ci) {
  uint sub_block = 2u * (chunk % CHUNKS_PER_BLOCK);
  uvec4 low[2], high[2];
  for (uint h = 0; h < 2u; ++h) {
    low[h] = w.qs[h] & NIBBLES;
    high[h] = (w.qs[h] >> 4) & NIBBLES;
#if defined(WEIGHT_Q5_K)
    low[h] |= ((w.qh[h] >> sub_block) & 0x01010101u) << 4;
    high[h] |= ((w.qh[h] >> (sub_block + 1u)) & 0x01010101u) << 4;
#endif
  }
  float low_sum = float(dot16(low[0], ci.levels[0])) * ci.scales.x +
                  float(dot16(low[1], ci.levels[1])) * ci.scales.y;
  float high_sum = float(dot16(high[0], ci.levels[2])) * ci.scales.z +
                   float(dot16(high[1], ci.levels[3])) * ci.scales.w;
  vec2 d = unpackHalf2x16(w.header.x);  // d, dmin
  uvec4 sm = k_scales_mins(w.header, sub_block);
  return d.x * (float(sm.x) * low_sum + float(sm.z) * high_sum) -
         d.y * (float(sm.y) * ci.sums.x + float(sm.w) * ci.sums.y);
}

#elif defined(WEIGHT_Q6_K)
// Chunk k (< 4) of block b: the device chunk of elements 64k .. 64k + 63 (dequant.glsl describes
// the layout): 32 bytes of low bits, whose low nibbles are elements 64k + l and high nibbles
// 64k + 32 + l (l < 32), and 16 bytes of high bits, two per element, at 2 * (i / 16) for element
// 64k + i: x blocks 8b + 2k and + 1, as for Q4_K.
const uint CHUNKS_PER_BLOCK = 4;
struct ChunkWeights {
  uvec4 ql[2];
  uvec4 qh;
  uint scales;  // the chunk's 4 int8 scales, one per 16 elements
  float d;
};
ChunkWeights load_chunk(uint row_start, uint chunk) {
  uint blocks_per_row = pc.cols / 256u;
  uint b = chunk / CHUNKS_PER_BLOCK;
  uint quants = (row_start + QUANT_BYTES * b + 48u * (chunk % CHUNKS_PER_BLOCK)) >> 4;
  uint scales = row_start + QUANT_BYTES * blocks_per_row + SCALE_BYTES * b;
  return ChunkWeights(uvec4[2](weight_vec4[quants], weight_vec4[quants + 1u]),
                      weight_vec4[quants + 2u],
                      weight_words[(scales >> 2) + chunk % CHUNKS_PER_BLOCK],
                      load_f16(row_start + (QUANT_BYTES + SCALE_BYTES) * blocks_per_row + 2u * b));
}
// 6-bit levels (4 per word) to signed bytes: level - 32, bytewise (no borrow crosses a byte: each
// byte is 128 + level >= 32 before the subtraction).
uvec4 q6_signed(uvec4 levels) {
  return ((levels | 0x80808080u) - 0x20202020u) ^ 0x80808080u;
}
// The int8 scale `index` (< 4) of the chunk's.
int q6_scale(uint scales, uint index) {
  return sign_extend_u8(scales >> (8u * index));
}
float chunk_dot(uint chunk, ChunkWeights w, ChunkInput ci) {
  const uint PAIRS = 0x03030303u;
  int sums[4];  // elements 0..15, 16..31, 32..47, 48..63 of the chunk
  for (uint h = 0; h < 2u; ++h) {
    uvec4 low = (w.ql[h] & NIBBLES) | (((w.qh >> (2u * h)) & PAIRS) << 4);
    uvec4 high = ((w.ql[h] >> 4) & NIBBLES) | (((w.qh >> (4u + 2u * h)) & PAIRS) << 4);
    sums[h] = dot16(q6_signed(low), ci.levels[h]);
    sums[2u + h] = dot16(q6_signed(high), ci.levels[2u + h]);
  }
  return w.d * (float(q6_scale(w.scales, 0u) * sums[0]) * ci.scales.x +
                float(q6_scale(w.scales, 1u) * sums[1]) * ci.scales.y +
                float(q6_scale(w.scales, 2u) * sums[2]) * ci.scales.z +
                float(q6_scale(w.scales, 3u) * sums[3]) * ci.scales.w);
}

#elif defined(WEIGHT_Q8_0)
// Chunk c: blocks 2c and 2c + 1, their 64 quants in four 16-byte loads (group c of the row's
// transposed halves: neighbouring lanes load neighbouring vectors): x blocks 2c, 2c + 1.
struct ChunkWeights {
  uvec4 qs[4];
  vec2 d;
};
ChunkWeights load_chunk(uint row_start, uint chunk) {
  uint blocks_per_row = pc.cols / 32u;
  uint qs = row_start >> 4, halves = 2u * blocks_per_row;
  // The two scales are one aligned word: the scales start at a multiple of 32 bytes.
  uint scales = row_start + QS_BYTES * blocks_per_row + 4u * chunk;
  return ChunkWeights(uvec4[4](weight_vec4[qs + q8_0_vector_slot(4u * chunk, halves)],
                               weight_vec4[qs + q8_0_vector_slot(4u * chunk + 1u, halves)],
                               weight_vec4[qs + q8_0_vector_slot(4u * chunk + 2u, halves)],
                               weight_vec4[qs + q8_0_vector_slot(4u * chunk + 3u, halves)]),
                      unpackHalf2x16(weight_words[scales >> 2]));
}
float chunk_dot(uint chunk, ChunkWeights w, ChunkInput ci) {
  float first = float(dot16(w.qs[0], ci.levels[0])) * ci.scales.x +
                float(dot16(w.qs[1], ci.levels[1])) * ci.scales.y;
  float second = float(dot16(w.qs[2], ci.levels[2])) * ci.scales.z +
                 float(dot16(w.qs[3], ci.levels[3])) * ci.scales.w;
  return w.d.x * first + w.d.y * second;
}

#elif defined(WEIGHT_Q4_0) || defined(WEIGHT_Q4_1) || defined(WEIGHT_Q5_0) || defined(WEIGHT_Q5_1)
// Chunk c: blocks 2c and 2c + 1 (x blocks the same). Byte j of a block's qs holds element j (low
// nibble) and j + 16 (high nibble); Q5 types add bit e of qh as bit 4 of element e. The blocks (18
// to 24 bytes) are not 16-byte aligned: their words are read one by one.
struct ChunkWeights {
  uvec4 qs[2];
  uvec2 high;  // qh of each block (Q5 types)
  vec2 d;
  vec2 m;  // Q4_1 and Q5_1
};
ChunkWeights load_chunk(uint row_start, uint chunk) {
  ChunkWeights w;
  for (uint h = 0; h < 2u; ++h) {
    uint block = row_start + (2u * chunk + h) * BLOCK_BYTES;
    uint qs = block + OFFSET_QS;
    w.qs[h] = uvec4(load_u32(qs), load_u32(qs + 4u), load_u32(qs + 8u), load_u32(qs + 12u));
    w.d[h] = load_f16(block + OFFSET_D);
#if defined(WEIGHT_Q4_1) || defined(WEIGHT_Q5_1)
    w.m[h] = load_f16(block + OFFSET_M);
#else
    w.m[h] = 0.0;
#endif
#if defined(WEIGHT_Q5_0) || defined(WEIGHT_Q5_1)
    w.high[h] = load_u32(block + OFFSET_QH);
#else
    w.high[h] = 0u;
#endif
  }
  return w;
}
// Bits 4i .. 4i + 3 of `bits` as bit 4 of bytes 0 .. 3.
uint fifth_bits(uint bits, uint i) {
  uint four = (bits >> (4u * i)) & 0xfu;
  return ((four | (four << 7) | (four << 14) | (four << 21)) & 0x01010101u) << 4;
}
float chunk_dot(uint chunk, ChunkWeights w, ChunkInput ci) {
  float total = 0.0;
  for (uint h = 0; h < 2u; ++h) {
    uvec4 low = w.qs[h] & NIBBLES;
    uvec4 high = (w.qs[h] >> 4) & NIBBLES;
#if defined(WEIGHT_Q5_0) || defined(WEIGHT_Q5_1)
    low |= uvec4(fifth_bits(w.high[h], 0u), fifth_bits(w.high[h], 1u), fifth_bits(w.high[h], 2u),
                 fifth_bits(w.high[h], 3u));
    high |= uvec4(fifth_bits(w.high[h], 4u), fifth_bits(w.high[h], 5u), fifth_bits(w.high[h], 6u),
                  fifth_bits(w.high[h], 7u));
#endif
    float dot_value = float(dot16(low, ci.levels[2u * h]) + dot16(high, ci.levels[2u * h + 1u]));
    float block_sum = ci.sums[h];
#if defined(WEIGHT_Q4_0)
    total += w.d[h] * (ci.scales[2u * h] * dot_value - 8.0 * block_sum);
#elif defined(WEIGHT_Q5_0)
    total += w.d[h] * (ci.scales[2u * h] * dot_value - 16.0 * block_sum);
#else
    total += w.d[h] * ci.scales[2u * h] * dot_value + w.m[h] * block_sum;
#endif
  }
  return total;
}

#else
#error matvec_int8.comp reads the types of the CPU's int8 path only
#endif
