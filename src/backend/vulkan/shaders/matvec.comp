#version 450
#extension GL_GOOGLE_include_directive : require
// y[out_offset + r] = sum_c W[r][c] * x[c] for the `rows` rows of W bound at binding 0 (starting
// `weight_offset` bytes into the binding), dequantizing on the fly. One workgroup per row: its invocations
// take the row's units in turn (neighbouring invocations read neighbouring bytes), then reduce.

#include "common.glsl"
#include "reduce.glsl"
#include "dequant.glsl"

layout(binding = 1) readonly buffer Input { float x[]; };
layout(binding = 2) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push {
  uint cols;           // elements per row (a multiple of UNIT)
  uint rows;           // rows in this dispatch
  uint row_bytes;      // bytes per row
  uint weight_offset;  // byte offset of the first row within the weights binding
  uint out_offset;     // index in y of the first row's result
} pc;

void main() {
  uint row = linear_workgroup_id();
  if (row >= pc.rows) return;  // the whole workgroup leaves together
  uint row_start = pc.weight_offset + row * pc.row_bytes;
  uint units = pc.cols / UNIT;
  float sum = 0.0;
  for (uint unit = gl_LocalInvocationIndex; unit < units; unit += WORKGROUP_SIZE) {
    float v[UNIT];
    dequantize_row_unit(row_start, unit, v);
    uint first = unit * UNIT;
    for (uint i = 0; i < UNIT; ++i) sum += v[i] * x[first + i];
  }
  float total = workgroup_sum(sum);
  if (gl_LocalInvocationIndex == 0u) y[pc.out_offset + row] = total;
}
