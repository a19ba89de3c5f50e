#version 450
#extension GL_GOOGLE_include_directive : require
// RMS normalization of n_groups consecutive groups of group_size values (one workgroup each), each scaled
// by the same weight vector: y = x / sqrt(mean(x^2) + eps) * w. x and y may be the same buffer: each
// invocation reads an element before it writes it.

#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) readonly buffer Input { float x[]; };
layout(binding = 1) readonly buffer Weight { float w[]; };
layout(binding = 2) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push {
  uint group_size;
  uint n_groups;
  float eps;
} pc;

void main() {
  uint group = linear_workgroup_id();
  if (group >= pc.n_groups) return;
  uint base = group * pc.group_size;
  float sum_squares = 0.0;
  for (uint i = gl_LocalInvocationIndex; i < pc.group_size; i += WORKGROUP_SIZE)
    sum_squares += x[base + i] * x[base + i];
  float total = workgroup_sum(sum_squares);
  float inverse_rms = 1.0 / sqrt(total / float(pc.group_size) + pc.eps);
  for (uint i = gl_LocalInvocationIndex; i < pc.group_size; i += WORKGROUP_SIZE)
    y[base + i] = x[base + i] * inverse_rms * w[i];
}
