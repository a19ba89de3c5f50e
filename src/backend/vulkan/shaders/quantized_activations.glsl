// A vector of n floats (n a multiple of 16) handed from one int8 mat-vec to the next already
// quantized (matvec_int8.comp: QUANTIZE_OUTPUT writes it, X_PREQUANTIZED reads it; the attention
// kernels write their output heads so for the output projection), in groups of 16
// values (levels roundEven(v * 127 / max|v|), scale max|v| / 127): a group is what one workgroup
// pass of the producer computes, so each workgroup quantizes its own rows and no workgroup waits for
// another. As 32-bit words:
//   [0, n/4)          the levels, 4 per word, lowest byte first, a group's 16 in the 4 words of
//                     its slot (quantized_group_slot);
//   [n/4, + n/16)     the scale of each group;
//   [.., + n/16)      per group, the sum of the squares of the raw values (before the next norm's
//                     weights), from which a consumer takes the RMS scale.
// kernels.cpp (quantized_activation_bytes) mirrors this.

const uint QUANTIZED_GROUP = 16;
uint quantized_scales_word(uint n) { return n / 4u; }
uint quantized_sum_squares_word(uint n) { return n / 4u + n / 16u; }

// The slot (of 16 bytes) that holds the levels of group `group` of n values: the groups transposed
// in fours (common.glsl, slot_in_fours), as the halves of a Q8_0 row, so that the consumer's lanes,
// which take 64 values (four groups) each, read neighbouring slots with each 16-byte load; on the
// H200 the groups in order cost 1-2.5 % of a token (docs/perf/README.md, v8).
uint quantized_group_slot(uint group, uint n) { return slot_in_fours(group, n / QUANTIZED_GROUP); }

// Four levels as signed bytes, saturated as the CPU does.
uint pack_levels(vec4 levels) {
  ivec4 q = clamp(ivec4(levels), ivec4(-128), ivec4(127));
  return uint(q.x & 0xff) | (uint(q.y & 0xff) << 8) | (uint(q.z & 0xff) << 16) |
         (uint(q.w & 0xff) << 24);
}

// Writes group `group` of a quantized vector of n values into quantized_out (which the includer
// declares first), by one invocation: `weighted` are its 16 values (times the next norm's weights,
// where there is one) and `sum_squares` the sum of the squares of the raw values.
void write_quantized_group(uint group, uint n, vec4 weighted[QUANTIZED_GROUP / 4u],
                           float sum_squares) {
  float amax = 0.0;
  for (uint w = 0; w < QUANTIZED_GROUP / 4u; ++w) {
    vec4 magnitude = abs(weighted[w]);
    amax = max(amax, max(max(magnitude.x, magnitude.y), max(magnitude.z, magnitude.w)));
  }
  float inverse_scale = amax > 0.0 ? 127.0 / amax : 0.0;
  uint levels = 4u * quantized_group_slot(group, n);
  for (uint w = 0; w < QUANTIZED_GROUP / 4u; ++w)
    quantized_out[levels + w] = pack_levels(roundEven(weighted[w] * inverse_scale));
  quantized_out[quantized_scales_word(n) + group] = floatBitsToUint(amax / 127.0);
  quantized_out[quantized_sum_squares_word(n) + group] = floatBitsToUint(sum_squares);
}
