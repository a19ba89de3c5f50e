// The packed 6-bit scales and mins of a Q4_K block's 8 sub-blocks, from the block's first 16 bytes
// (d, dmin and the 12 scale bytes) loaded as one uvec4.

// The scale (x) and min (y) of sub-block s and, when s is even, those of sub-block s + 1 (z, w).
// Bytes 0-3 hold the scales of sub-blocks 0-3 in their low 6 bits and the top 2 bits of the scales
// of 4-7; bytes 4-7 the same for the mins; bytes 8-11 the low 4 bits of 4-7's scales (low nibble)
// and mins (high nibble). Both sub-blocks' bytes are decoded side by side in one word, and the
// half is chosen by a select, not a branch: as a branch that lanes take apart (the sub-block
// follows the lane), the decoding cost the H200 ~7 % of a SmolLM2 Q4_K_M token
// (docs/perf/README.md, v8).
uvec4 k_scales_mins(uvec4 header, uint s) {
  uint shift = 8u * (s % 4u);
  uint scale_bytes = header.y >> shift, min_bytes = header.z >> shift;
  uint low_bits = header.w >> shift;
  bool first_half = s < 4u;
  uint scales = first_half ? scale_bytes & 0x3f3fu
                           : (low_bits & 0x0f0fu) | ((scale_bytes >> 2) & 0x3030u);
  uint mins = first_half ? min_bytes & 0x3f3fu
                         : ((low_bits >> 4) & 0x0f0fu) | ((min_bytes >> 2) & 0x3030u);
  return uvec4(scales & 0xffu, mins & 0xffu, scales >> 8, mins >> 8);
}
