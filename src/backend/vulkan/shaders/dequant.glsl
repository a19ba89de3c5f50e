// Reading weights of one storage type, chosen by a WEIGHT_<TYPE> define, in the device layout of
// src/backend/vulkan/weight_layout.h (GGUF blocks, except Q8_0 and Q6_K rows, which are repacked). A
// row is split into "units" of UNIT consecutive elements that share their scales;
// dequantize_row_unit() turns one unit into floats.
// Weights are bound as raw 32-bit words at binding 0 and read by byte offset, so blocks need not be
// 4-byte aligned (Q4_0 blocks are 18 bytes) and no 8/16-bit storage feature is needed. Every block size
// is even, so 16-bit fields never straddle a word.

#include "blocks.glsl"

layout(binding = 0) readonly buffer Weights { uint weight_words[]; };

uint load_u8(uint byte_offset) {
  return (weight_words[byte_offset >> 2] >> ((byte_offset & 3u) * 8u)) & 0xffu;
}
// byte_offset is even.
uint load_u16(uint byte_offset) {
  return (weight_words[byte_offset >> 2] >> ((byte_offset & 2u) * 8u)) & 0xffffu;
}
// byte_offset is even; four bytes, little-endian.
uint load_u32(uint byte_offset) {
  if ((byte_offset & 3u) == 0u) return weight_words[byte_offset >> 2];
  return load_u16(byte_offset) | (load_u16(byte_offset + 2u) << 16);
}
float load_f16(uint byte_offset) { return unpackHalf2x16(load_u16(byte_offset)).x; }
int sign_extend_u8(uint value) { return int(value << 24) >> 24; }

#if defined(WEIGHT_F32)
const uint UNIT = 1, UNITS_PER_BLOCK = 1, BLOCK_BYTES = 4;
void dequantize_unit(uint block, uint unit_in_block, out float v[UNIT]) {
  v[0] = uintBitsToFloat(weight_words[block >> 2]);
}

#elif defined(WEIGHT_F16)
const uint UNIT = 1, UNITS_PER_BLOCK = 1, BLOCK_BYTES = 2;
void dequantize_unit(uint block, uint unit_in_block, out float v[UNIT]) { v[0] = load_f16(block); }

#elif defined(WEIGHT_BF16)
const uint UNIT = 1, UNITS_PER_BLOCK = 1, BLOCK_BYTES = 2;
void dequantize_unit(uint block, uint unit_in_block, out float v[UNIT]) {
  v[0] = uintBitsToFloat(load_u16(block) << 16);
}

#elif defined(WEIGHT_Q8_0)
// Repacked rows: [qs of each block, in halves of 16 bytes (q8_0_vector_slot)][d of each block, 2
// bytes]. Unit 0: elements 0..15 of a block, unit 1: 16..31.
const uint UNIT = 16, UNITS_PER_BLOCK = 2, QS_BYTES = DEVICE_Q8_0_QS_BYTES;
// A repacked Q8_0 row keeps its quants as 16-byte vectors (half a block each) transposed in groups
// of four (64 elements): vector v of `vectors` lies in slot_in_fours(v, vectors) (common.glsl).
uint q8_0_vector_slot(uint vector, uint vectors) { return slot_in_fours(vector, vectors); }
// The vector that lies in slot `slot`: the inverse of q8_0_vector_slot. slot / groups is taken in
// float (an integer division by a variable is a long instruction sequence, run per step of the
// batch mat-mul): (slot + 0.5) / groups is below 4 and at least 0.5 / groups from an integer, far
// more than its float error for any row a buffer binding holds.
uint q8_0_vector_in_slot(uint slot, uint vectors) {
  uint groups = vectors / 4u;
  if (slot >= 4u * groups) return slot;
  uint quarter = uint((float(slot) + 0.5) / float(groups));
  return (slot - quarter * groups) * 4u + quarter;
}
void dequantize_block_unit(uint row_start, uint blocks_per_row, uint b, uint unit_in_block,
                           out float v[UNIT]) {
  float d = load_f16(row_start + QS_BYTES * blocks_per_row + 2u * b);
  uint qs = row_start + 16u * q8_0_vector_slot(2u * b + unit_in_block, 2u * blocks_per_row);
  for (uint i = 0; i < 4u; ++i) {
    uint word = weight_words[(qs >> 2) + i];
    for (uint k = 0; k < 4u; ++k) v[4u * i + k] = float(sign_extend_u8(word >> (8u * k))) * d;
  }
}

#elif defined(WEIGHT_Q4_0) || defined(WEIGHT_Q4_1) || defined(WEIGHT_Q5_0) || defined(WEIGHT_Q5_1)
// Byte j of qs holds element j (low nibble) and element j + 16 (high nibble), so unit 0 is the low
// nibbles and unit 1 the high ones. Q5 types add bit e of qh as bit 4 of element e.
const uint UNIT = 16, UNITS_PER_BLOCK = 2;
#if defined(WEIGHT_Q4_0)
const uint BLOCK_BYTES = BLOCK_Q4_0_BYTES, OFFSET_D = BLOCK_Q4_0_D, OFFSET_QS = BLOCK_Q4_0_QS;
#elif defined(WEIGHT_Q4_1)
const uint BLOCK_BYTES = BLOCK_Q4_1_BYTES, OFFSET_D = BLOCK_Q4_1_D, OFFSET_QS = BLOCK_Q4_1_QS;
const uint OFFSET_M = BLOCK_Q4_1_M;
#elif defined(WEIGHT_Q5_0)
const uint BLOCK_BYTES = BLOCK_Q5_0_BYTES, OFFSET_D = BLOCK_Q5_0_D, OFFSET_QS = BLOCK_Q5_0_QS;
const uint OFFSET_QH = BLOCK_Q5_0_QH;
#else
const uint BLOCK_BYTES = BLOCK_Q5_1_BYTES, OFFSET_D = BLOCK_Q5_1_D, OFFSET_QS = BLOCK_Q5_1_QS;
const uint OFFSET_M = BLOCK_Q5_1_M, OFFSET_QH = BLOCK_Q5_1_QH;
#endif
void dequantize_unit(uint block, uint unit_in_block, out float v[UNIT]) {
  float d = load_f16(block + OFFSET_D);
#if defined(WEIGHT_Q4_1) || defined(WEIGHT_Q5_1)
  float m = load_f16(block + OFFSET_M);
#endif
#if defined(WEIGHT_Q5_0) || defined(WEIGHT_Q5_1)
  uint high_bits = load_u32(block + OFFSET_QH) >> (16u * unit_in_block);
#endif
  uint shift = 4u * unit_in_block;
  for (uint i = 0; i < 4u; ++i) {
    uint word = load_u32(block + OFFSET_QS + 4u * i);
    for (uint k = 0; k < 4u; ++k) {
      uint e = 4u * i + k;
      uint q = (word >> (8u * k + shift)) & 0xfu;
#if defined(WEIGHT_Q5_0) || defined(WEIGHT_Q5_1)
      q |= ((high_bits >> e) & 1u) << 4;
#endif
#if defined(WEIGHT_Q4_0)
      v[e] = (float(q) - 8.0) * d;
#elif defined(WEIGHT_Q5_0)
      v[e] = (float(q) - 16.0) * d;
#else
      v[e] = float(q) * d + m;
#endif
    }
  }
}

#elif defined(WEIGHT_Q4_K) || defined(WEIGHT_Q5_K)
// 256 elements in 8 sub-blocks of 32, each with a 6-bit scale and min packed in 12 bytes. Sub-block s
// takes the low (s even) or high (s odd) nibbles of qs[32 * (s / 2) .. + 31]; Q5_K adds bit s of
// qh[l] as bit 4 of its element l. A unit is half a sub-block.
const uint UNIT = 16, UNITS_PER_BLOCK = 16;
#if defined(WEIGHT_Q4_K)
const uint BLOCK_BYTES = BLOCK_Q4_K_BYTES, OFFSET_D = BLOCK_Q4_K_D, OFFSET_DMIN = BLOCK_Q4_K_DMIN;
const uint OFFSET_SCALES = BLOCK_Q4_K_SCALES, OFFSET_QS = BLOCK_Q4_K_QS;
#else
const uint BLOCK_BYTES = BLOCK_Q5_K_BYTES, OFFSET_D = BLOCK_Q5_K_D, OFFSET_DMIN = BLOCK_Q5_K_DMIN;
const uint OFFSET_SCALES = BLOCK_Q5_K_SCALES, OFFSET_QS = BLOCK_Q5_K_QS;
const uint OFFSET_QH = BLOCK_Q5_K_QH;
#endif
// The 6-bit scale and min of sub-block s (0..7).
uvec2 scale_and_min(uint scales, uint s) {
  if (s < 4u) return uvec2(load_u8(scales + s) & 63u, load_u8(scales + s + 4u) & 63u);
  uint low = load_u8(scales + s + 4u);
  return uvec2((low & 0xfu) | ((load_u8(scales + s - 4u) >> 6) << 4),
               (low >> 4) | ((load_u8(scales + s) >> 6) << 4));
}
void dequantize_unit(uint block, uint unit_in_block, out float v[UNIT]) {
  uint s = unit_in_block / 2u;
  uint half_index = unit_in_block % 2u;
  uvec2 sm = scale_and_min(block + OFFSET_SCALES, s);
  float scale = load_f16(block + OFFSET_D) * float(sm.x);
  float minimum = load_f16(block + OFFSET_DMIN) * float(sm.y);
  uint shift = 4u * (s % 2u);
  uint first = 16u * half_index;  // position within the sub-block's 32 bytes
  uint qs = block + OFFSET_QS + 32u * (s / 2u) + first;
  for (uint i = 0; i < 4u; ++i) {
    uint word = load_u32(qs + 4u * i);
#if defined(WEIGHT_Q5_K)
    uint high = load_u32(block + OFFSET_QH + first + 4u * i);
#endif
    for (uint k = 0; k < 4u; ++k) {
      uint q = (word >> (8u * k + shift)) & 0xfu;
#if defined(WEIGHT_Q5_K)
      q += ((high >> (8u * k + s)) & 1u) << 4;
#endif
      v[4u * i + k] = scale * float(q) - minimum;
    }
  }
}

#elif defined(WEIGHT_Q6_K)
// Repacked rows: [the quants of each block, 192 bytes][scales of each block, 16 bytes][d of each
// block, 2 bytes]. A block's quants are four chunks of 64 elements, 48 bytes each; element i of a
// chunk takes a nibble of byte i % 32 (the high one when i >= 32) and two bits of byte 32 + i % 16
// at 2 * (i / 16); element e of the block the int8 scale scales[e / 16]. A unit is 16 elements (one
// scale): unit 4j + t of a block is elements 16t .. 16t + 15 of chunk j.
const uint UNIT = 16, UNITS_PER_BLOCK = 16, QUANT_BYTES = DEVICE_Q6_K_QUANT_BYTES;
const uint SCALE_BYTES = DEVICE_Q6_K_SCALE_BYTES;
void dequantize_block_unit(uint row_start, uint blocks_per_row, uint b, uint unit_in_block,
                           out float v[UNIT]) {
  uint t = unit_in_block % 4u;  // the unit's 16 elements in its chunk
  uint scales = row_start + QUANT_BYTES * blocks_per_row + SCALE_BYTES * b;
  float d = load_f16(row_start + (QUANT_BYTES + SCALE_BYTES) * blocks_per_row + 2u * b);
  float scale = d * float(sign_extend_u8(load_u8(scales + unit_in_block)));
  uint chunk = row_start + QUANT_BYTES * b + 48u * (unit_in_block / 4u);
  uint ql = chunk + 16u * (t % 2u);
  uint qh = chunk + 32u;
  uint low_shift = 4u * (t / 2u);
  uint high_shift = 2u * t;
  for (uint i = 0; i < 4u; ++i) {
    uint low_word = weight_words[(ql >> 2) + i];
    uint high_word = weight_words[(qh >> 2) + i];
    for (uint k = 0; k < 4u; ++k) {
      uint q = ((low_word >> (8u * k + low_shift)) & 0xfu) |
               (((high_word >> (8u * k + high_shift)) & 3u) << 4);
      v[4u * i + k] = scale * float(int(q) - 32);
    }
  }
}

#else
#error "define one WEIGHT_<TYPE>"
#endif

#if defined(WEIGHT_Q8_0) || defined(WEIGHT_Q6_K)
#define REPACKED_ROWS
#endif

// Dequantizes unit `unit` of the row of `blocks_per_row` blocks that starts at byte `row_start`.
void dequantize_row_unit(uint row_start, uint blocks_per_row, uint unit, out float v[UNIT]) {
#ifdef REPACKED_ROWS
  dequantize_block_unit(row_start, blocks_per_row, unit / UNITS_PER_BLOCK, unit % UNITS_PER_BLOCK,
                        v);
#else
  dequantize_unit(row_start + (unit / UNITS_PER_BLOCK) * BLOCK_BYTES, unit % UNITS_PER_BLOCK, v);
#endif
}
