#version 450
#extension GL_GOOGLE_include_directive : require
// Row i of out (cols floats) = row batch_tokens[i] of the table, dequantized, for the n_tokens tokens
// of a batch, when that row is among the `rows` rows bound at binding 0 (first_row .. first_row +
// rows - 1); otherwise nothing (a table larger than one binding is embedded by one dispatch per
// range). Workgroup (x, i) dequantizes units x * WORKGROUP_SIZE .. of token i's row, one per
// invocation.

#include "common.glsl"
#include "dequant.glsl"
#include "batch.glsl"

DECLARE_BATCH_INPUTS(1)
layout(binding = 2) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push {
  uint cols;
  uint first_row;      // table row of the first bound row
  uint rows;           // rows bound
  uint row_bytes;      // bytes from one row to the next (the device layout's)
  uint weight_offset;  // byte offset of the first bound row within the binding
} pc;

void main() {
  uint unit = gl_WorkGroupID.x * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  uint token_index = gl_WorkGroupID.y;
  uint token = batch_tokens[token_index];
  if (token < pc.first_row || token - pc.first_row >= pc.rows) return;
  if (unit >= pc.cols / UNIT) return;
  float v[UNIT];
  dequantize_row_unit(pc.weight_offset + (token - pc.first_row) * pc.row_bytes,
                      pc.cols / (UNIT * UNITS_PER_BLOCK), unit, v);
  uint base = token_index * pc.cols + unit * UNIT;
  for (uint i = 0; i < UNIT; ++i) y[base + i] = v[i];
}
