// The packed 6-bit scales and mins of a Q4_K block's 8 sub-blocks, from the block's first 16 bytes
// (d, dmin and the 12 scale bytes) loaded as one uvec4.

// Byte k of the 12 packed scale bytes, which follow d and dmin in the block's first 16 bytes
// (selects rather than a dynamic vector index, which some compilers put in local memory).
uint scale_byte(uvec4 header, uint k) {
  uint word = k < 4u ? header.y : (k < 8u ? header.z : header.w);
  return (word >> (8u * (k % 4u))) & 0xffu;
}
// The 6-bit scale (x) and min (y) of sub-block s.
uvec2 k_scale_min(uvec4 header, uint s) {
  if (s < 4u) return uvec2(scale_byte(header, s) & 63u, scale_byte(header, s + 4u) & 63u);
  uint low = scale_byte(header, s + 4u);
  return uvec2((low & 0xfu) | ((scale_byte(header, s - 4u) >> 6) << 4),
               (low >> 4) | ((scale_byte(header, s) >> 6) << 4));
}
