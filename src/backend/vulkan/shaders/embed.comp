#version 450
#extension GL_GOOGLE_include_directive : require
// out = row `step_token` of the table, dequantized, when that row is among the `rows` rows bound at
// binding 0 (first_row .. first_row + rows - 1); otherwise nothing. A table larger than one binding may
// cover is embedded by one dispatch per range. Each invocation dequantizes one unit.

#include "common.glsl"
#include "dequant.glsl"

DECLARE_STEP_INPUTS(1)
layout(binding = 2) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push {
  uint cols;
  uint first_row;      // table row of the first bound row
  uint rows;           // rows bound
  uint row_bytes;      // bytes from one row to the next (the device layout's)
  uint weight_offset;  // byte offset of the first bound row within the binding
} pc;

void main() {
  uint unit = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  if (step_token < pc.first_row || step_token - pc.first_row >= pc.rows) return;
  if (unit >= pc.cols / UNIT) return;
  float v[UNIT];
  dequantize_row_unit(pc.weight_offset + (step_token - pc.first_row) * pc.row_bytes,
                      pc.cols / (UNIT * UNITS_PER_BLOCK), unit, v);
  for (uint i = 0; i < UNIT; ++i) y[unit * UNIT + i] = v[i];
}
