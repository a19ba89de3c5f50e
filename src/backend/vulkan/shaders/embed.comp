#version 450
#extension GL_GOOGLE_include_directive : require
// out = row `step_token` of the table, dequantized, when that row is among the `rows` rows bound at
// binding 0 (first_row .. first_row + rows - 1); otherwise nothing. A table larger than one binding may
// cover is embedded by one dispatch per range. Each invocation dequantizes one unit.
// With QUANTIZE_OUTPUT (quantized tables: a unit is 16 values, one group of
// quantized_activations.glsl) each invocation also quantizes its unit into binding 3 for the int8
// mat-vecs that read the row next (the first layer's), times the next norm's weights (binding 4)
// with QUANTIZE_NORMED, as the int8 mat-vecs quantize their outputs
// (matvec_int8_output_quantization.glsl); so none of those mat-vecs stages x itself.

#include "common.glsl"
#include "dequant.glsl"

DECLARE_STEP_INPUTS(1)
layout(binding = 2) writeonly buffer Output { float y[]; };
layout(binding = 3) writeonly buffer QuantizedOutput { uint quantized_out[]; };
layout(binding = 4) readonly buffer NextNormWeight { float next_norm_weight[]; };
#include "quantized_activations.glsl"

layout(push_constant) uniform Push {
  uint cols;
  uint first_row;      // table row of the first bound row
  uint rows;           // rows bound
  uint row_bytes;      // bytes from one row to the next (the device layout's)
  uint weight_offset;  // byte offset of the first bound row within the binding
  uint flags;          // QUANTIZE_OUTPUT, QUANTIZE_NORMED
} pc;

const uint QUANTIZE_OUTPUT = 1u, QUANTIZE_NORMED = 2u;

// Unit `unit` (values v, one group of 16) as group `unit` of the quantized row.
void quantize_unit(uint unit, float v[UNIT]) {
  vec4 weighted[QUANTIZED_GROUP / 4u];
  float sum_squares = 0.0;
  for (uint i = 0; i < UNIT; ++i) {
    float weight = (pc.flags & QUANTIZE_NORMED) != 0u ? next_norm_weight[unit * UNIT + i] : 1.0;
    weighted[i / 4u][i % 4u] = v[i] * weight;
    sum_squares += v[i] * v[i];
  }
  write_quantized_group(unit, pc.cols, weighted, sum_squares);
}

void main() {
  uint unit = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  if (step_token < pc.first_row || step_token - pc.first_row >= pc.rows) return;
  if (unit >= pc.cols / UNIT) return;
  float v[UNIT];
  dequantize_row_unit(pc.weight_offset + (step_token - pc.first_row) * pc.row_bytes,
                      pc.cols / (UNIT * UNITS_PER_BLOCK), unit, v);
  for (uint i = 0; i < UNIT; ++i) y[unit * UNIT + i] = v[i];
  if (UNIT == QUANTIZED_GROUP && (pc.flags & QUANTIZE_OUTPUT) != 0u) quantize_unit(unit, v);
}
