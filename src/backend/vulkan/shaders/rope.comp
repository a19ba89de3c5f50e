#version 450
#extension GL_GOOGLE_include_directive : require
// In place: rotates the first n_rot values of each of n_heads heads by the angles
// step_pos * inverse_frequency[i], i < n_rot / 2. The host computes inverse_frequency (theta^(-2i/n_rot))
// once in double precision. AdjacentPairs rotates (x[2i], x[2i+1]); Neox rotates (x[i], x[i + n_rot/2]).
// One invocation per pair.

#include "common.glsl"

layout(binding = 0) buffer Values { float x[]; };
DECLARE_STEP_INPUTS(1)
layout(binding = 2) readonly buffer Frequencies { float inverse_frequency[]; };

layout(push_constant) uniform Push {
  uint n_heads;
  uint head_dim;
  uint n_rot;
  uint neox;  // 0: adjacent pairs, 1: halves
} pc;

// sin and cos are only accurate near zero on some devices: reduce the angle to [-pi, pi] first, with
// 2*pi split in two parts so the reduction adds little error (Cody-Waite).
vec2 cos_sin(float angle) {
  const float TWO_PI_HIGH = 6.28125;
  const float TWO_PI_LOW = 1.9353071795864769e-3;
  float turns = round(angle * 0.15915494309189535);
  float reduced = fma(-turns, TWO_PI_LOW, fma(-turns, TWO_PI_HIGH, angle));
  return vec2(cos(reduced), sin(reduced));
}

void main() {
  uint pair = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  uint half_rot = pc.n_rot / 2u;
  if (pair >= pc.n_heads * half_rot) return;
  uint head = pair / half_rot;
  uint i = pair % half_rot;
  uint base = head * pc.head_dim;
  uint first = pc.neox != 0u ? base + i : base + 2u * i;
  uint second = pc.neox != 0u ? first + half_rot : first + 1u;
  vec2 cs = cos_sin(float(step_pos) * inverse_frequency[i]);
  float a = x[first];
  float b = x[second];
  x[first] = a * cs.x - b * cs.y;
  x[second] = a * cs.y + b * cs.x;
}
