#version 450
#extension GL_GOOGLE_include_directive : require
// In place, for the n_tokens tokens of a batch (n_heads heads of head_dim values each, token after
// token): rotates the first n_rot values of each head of token i by the angles
// (batch_pos + i) * inverse_frequency[j], j < n_rot / 2, as shaders/rope.comp does for one token.
// AdjacentPairs rotates (x[2j], x[2j+1]); Neox rotates (x[j], x[j + n_rot/2]). One workgroup per
// (token, head); each pair belongs to one invocation, which reads it before writing it.

#include "common.glsl"
#include "batch.glsl"
#include "rotation.glsl"

layout(binding = 0) buffer Values { float x[]; };
DECLARE_BATCH_INPUTS(1)
layout(binding = 2) readonly buffer Frequencies { float inverse_frequency[]; };

layout(push_constant) uniform Push {
  uint n_heads;
  uint head_dim;
  uint n_rot;
  uint neox;  // 0: adjacent pairs, 1: halves
  uint n_tokens;
} pc;

void main() {
  uint group = linear_workgroup_id();
  if (group >= pc.n_tokens * pc.n_heads) return;
  uint token = group / pc.n_heads;
  uint base = group * pc.head_dim;
  float position = float(batch_pos + token);
  uint half_rot = pc.n_rot / 2u;
  for (uint i = gl_LocalInvocationIndex; i < half_rot; i += WORKGROUP_SIZE) {
    uint first = base + (pc.neox != 0u ? i : 2u * i);
    uint second = pc.neox != 0u ? first + half_rot : first + 1u;
    float a = x[first];
    float b = x[second];
    vec2 cs = cos_sin(position * inverse_frequency[i]);
    x[first] = a * cs.x - b * cs.y;
    x[second] = a * cs.y + b * cs.x;
  }
}
