// The attention kernels' QUANTIZE_RESULT: one head of the output, quantized for the mat-vec that
// reads it next (the output projection) in the format of quantized_activations.glsl, without norm
// weights, so that its workgroups need not stage x. The includer defines head_value(i) (element i
// of the head, from shared memory written before a barrier) and binds quantized_out; pc has n_heads
// and head_dim (a multiple of 16: the host checks). An invocation per group of 16.

#include "quantized_activations.glsl"

void quantize_head(uint head) {
  uint n = pc.n_heads * pc.head_dim;
  for (uint g = gl_LocalInvocationIndex; g < pc.head_dim / QUANTIZED_GROUP;
       g += WORKGROUP_SIZE) {
    uint first = QUANTIZED_GROUP * g;
    vec4 values[QUANTIZED_GROUP / 4u];
    float sum_squares = 0.0;
    for (uint w = 0; w < QUANTIZED_GROUP / 4u; ++w) {
      uint i = first + 4u * w;
      values[w] = vec4(head_value(i), head_value(i + 1u), head_value(i + 2u), head_value(i + 3u));
      for (uint k = 0; k < 4u; ++k) sum_squares += values[w][k] * values[w][k];
    }
    write_quantized_group((head * pc.head_dim + first) / QUANTIZED_GROUP, n, values, sum_squares);
  }
}
