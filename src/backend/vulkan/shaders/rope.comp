#version 450
#extension GL_GOOGLE_include_directive : require
// In place: rotates the first n_rot values of each of n_heads heads by the angles
// step_pos * inverse_frequency[i], i < n_rot / 2. The host computes inverse_frequency (theta^(-2i/n_rot))
// once in double precision. AdjacentPairs rotates (x[2i], x[2i+1]); Neox rotates (x[i], x[i + n_rot/2]).
// One workgroup per head, with optional fusions (flags):
//   NORM   first RMS-normalizes the head and scales it by norm_weight (qwen3's q/k norms);
//   STORE  also writes the result into row step_pos of the key cache and copies the head's values
//          (binding 4) into the value cache (the KV store of this token).

#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) buffer Values { float x[]; };
DECLARE_STEP_INPUTS(1)
layout(binding = 2) readonly buffer Frequencies { float inverse_frequency[]; };
layout(binding = 3) readonly buffer NormWeight { float norm_weight[]; };
layout(binding = 4) readonly buffer StoredValues { float v[]; };
layout(binding = 5) writeonly buffer KeyCache { float k_cache[]; };
layout(binding = 6) writeonly buffer ValueCache { float v_cache[]; };

const uint NORM = 1u, STORE = 2u;
const uint MAX_HEAD_DIM = 512;  // checked by the host (kernels.cpp)
shared float head_values[MAX_HEAD_DIM];

layout(push_constant) uniform Push {
  uint n_heads;
  uint head_dim;
  uint n_rot;
  uint neox;  // 0: adjacent pairs, 1: halves
  uint flags;
  float eps;       // NORM
  uint capacity;   // STORE: positions the caches hold
} pc;

#include "rotation.glsl"

void main() {
  uint head = linear_workgroup_id();
  if (head >= pc.n_heads) return;  // the whole workgroup leaves together
  uint base = head * pc.head_dim;
  uint lane = gl_LocalInvocationIndex;
  bool normalize = (pc.flags & NORM) != 0u;
  bool store = (pc.flags & STORE) != 0u && step_pos < pc.capacity;
  uint cache_base = step_pos * pc.n_heads * pc.head_dim + base;

  // The head goes through shared memory, normalized: every value is read before any is written.
  float scale = 1.0;
  if (normalize) {
    float sum_squares = 0.0;
    for (uint i = lane; i < pc.head_dim; i += WORKGROUP_SIZE) sum_squares += x[base + i] * x[base + i];
    scale = 1.0 / sqrt(workgroup_sum(sum_squares) / float(pc.head_dim) + pc.eps);
  }
  for (uint i = lane; i < pc.head_dim; i += WORKGROUP_SIZE)
    head_values[i] = normalize ? x[base + i] * scale * norm_weight[i] : x[base + i];
  barrier();

  uint half_rot = pc.n_rot / 2u;
  for (uint i = lane; i < half_rot; i += WORKGROUP_SIZE) {
    uint first = pc.neox != 0u ? i : 2u * i;
    uint second = pc.neox != 0u ? first + half_rot : first + 1u;
    float a = head_values[first];
    float b = head_values[second];
    vec2 cs = cos_sin(float(step_pos) * inverse_frequency[i]);
    head_values[first] = a * cs.x - b * cs.y;  // each pair is this invocation's alone
    head_values[second] = a * cs.y + b * cs.x;
  }
  barrier();
  for (uint i = lane; i < pc.head_dim; i += WORKGROUP_SIZE) {
    x[base + i] = head_values[i];
    if (store) {
      k_cache[cache_base + i] = head_values[i];
      v_cache[cache_base + i] = v[base + i];
    }
  }
}
