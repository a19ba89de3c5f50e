// QUANTIZE_OUTPUT of matvec_int8.comp: the mat-vec quantizes its own output y (pc.rows values from
// y[0]) into quantized_out (quantized_activations.glsl) for the int8 mat-vecs that read it next, so
// that none of their workgroups stages x. Each pass of a workgroup quantizes its own rows, in groups
// of 16 (a pass is a multiple of 16 rows: kernels.cpp checks); with QUANTIZE_NORMED the levels are
// those of y * next_norm_weight (the next mat-vecs' RMS norm, whose RMS scale they apply to their
// sums). Expects pc, quantized_out, next_norm_weight, ROWS and pack_levels from matvec_int8.comp.

// The pass's rows as written (times the next norm's weights) and their squares, by row in the pass.
shared float pass_weighted[WORKGROUP_SIZE * ROWS];
shared float pass_squares[WORKGROUP_SIZE * ROWS];

// The next norm's weight of `row` (1 without QUANTIZE_NORMED), loaded before the row is computed.
float next_weight(uint row) {
  if ((pc.flags & QUANTIZE_NORMED) == 0u) return 1.0;
  return next_norm_weight[min(row, pc.rows - 1u)];
}

// Row `in_pass` of the pass was written as `value`.
void keep_pass_output(uint in_pass, float value, float weight) {
  pass_weighted[in_pass] = value * weight;
  pass_squares[in_pass] = value * value;
}

// Called by every invocation after the pass starting at row `first_row` has kept its outputs: a
// subgroup per group of 16 rows quantizes it. `more_passes`: another pass follows and will reuse
// the shared rows (after the last one, nothing waits: on the H200 that barrier cost ~1 % of a
// Q8_0 token, docs/perf/README.md, v6).
void quantize_pass(uint first_row, bool more_passes) {
  barrier();
  uint lane = gl_SubgroupInvocationID;
  uint groups = ROWS * gl_NumSubgroups / QUANTIZED_GROUP;
  for (uint g = gl_SubgroupID; g < groups; g += gl_NumSubgroups) {
    uint first = QUANTIZED_GROUP * g;
    if (first_row + first >= pc.rows) break;
    float amax = 0.0, sum_squares = 0.0;
    for (uint k = lane; k < QUANTIZED_GROUP; k += gl_SubgroupSize) {
      amax = max(amax, abs(pass_weighted[first + k]));
      sum_squares += pass_squares[first + k];
    }
    amax = subgroupMax(amax);
    sum_squares = subgroupAdd(sum_squares);
    float inverse_scale = amax > 0.0 ? 127.0 / amax : 0.0;
    uint word = 4u * quantized_group_slot((first_row + first) / QUANTIZED_GROUP, pc.rows);
    for (uint k = lane; k < QUANTIZED_GROUP / 4u; k += gl_SubgroupSize) {
      uint i = first + 4u * k;
      vec4 weighted = vec4(pass_weighted[i], pass_weighted[i + 1u], pass_weighted[i + 2u],
                           pass_weighted[i + 3u]);
      quantized_out[word + k] = pack_levels(roundEven(weighted * inverse_scale));
    }
    if (subgroupElect()) {
      uint group = (first_row + first) / QUANTIZED_GROUP;
      quantized_out[quantized_scales_word(pc.rows) + group] = floatBitsToUint(amax / 127.0);
      quantized_out[quantized_sum_squares_word(pc.rows) + group] = floatBitsToUint(sum_squares);
    }
  }
  if (more_passes) barrier();
}
