#version 450
#extension GL_GOOGLE_include_directive : require
// One token of a causal depthwise convolution followed by SiLU, one invocation per channel c:
//   y[c] = silu(sum_{j < kernel - 1} w[c][j] * state[j][c] + w[c][kernel - 1] * x[c])
// then the window slides: state[j][c] = state[j + 1][c], state[kernel - 2][c] = x[c]. The state holds
// the previous kernel - 1 inputs, oldest first (state[j * n_channels + c]); w has n_channels rows of
// `kernel` taps, oldest first. Channels are independent, so one dispatch reads and updates the state.

#include "common.glsl"

layout(binding = 0) readonly buffer Input { float x[]; };
layout(binding = 1) readonly buffer Weight { float w[]; };
layout(binding = 2) buffer State { float state[]; };
layout(binding = 3) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push {
  uint n_channels;
  uint kernel;
} pc;

void main() {
  uint c = linear_workgroup_id() * WORKGROUP_SIZE + gl_LocalInvocationIndex;
  if (c >= pc.n_channels) return;
  uint taps = c * pc.kernel;
  float current = x[c];
  float sum = w[taps + pc.kernel - 1u] * current;
  for (uint j = 0; j + 1u < pc.kernel; ++j) {
    float older = state[j * pc.n_channels + c];
    sum += w[taps + j] * older;
    if (j > 0u) state[(j - 1u) * pc.n_channels + c] = older;
  }
  if (pc.kernel > 1u) state[(pc.kernel - 2u) * pc.n_channels + c] = current;
  y[c] = sum / (1.0 + exp(-sum));
}
