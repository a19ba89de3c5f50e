#version 450
#extension GL_GOOGLE_include_directive : require
// One token of the gated delta rule, one workgroup per V head h (Q/K head kh = h mod n_k_heads):
//   q = q_kh / max(|q_kh|, eps) / sqrt(head_k_dim),  k = k_kh / max(|k_kh|, eps)
//   beta = sigmoid(beta_in[h]),  g = a[h] * softplus(alpha_in[h] + dt_bias[h])
//   S <- exp(g) S;  d = beta (v_h - S^T k);  S <- S + k d^T;  y_h = S^T q
// qkv holds [q | k | v]; S (head_k_dim x head_v_dim) is state[(h * head_k_dim + i) * head_v_dim + j].
// The norms need the whole workgroup; after that, invocation j owns column j of S, so columns update
// independently (and neighbouring invocations touch neighbouring floats).

#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) readonly buffer Qkv { float qkv[]; };
layout(binding = 1) readonly buffer Alpha { float alpha_in[]; };
layout(binding = 2) readonly buffer Beta { float beta_in[]; };
layout(binding = 3) readonly buffer A { float a[]; };
layout(binding = 4) readonly buffer DtBias { float dt_bias[]; };
layout(binding = 5) buffer State { float state[]; };
layout(binding = 6) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Push {
  uint n_k_heads;
  uint n_v_heads;
  uint head_k_dim;
  uint head_v_dim;
  float eps;
} pc;

void main() {
  uint h = linear_workgroup_id();
  if (h >= pc.n_v_heads) return;  // the whole workgroup leaves together
  uint lane = gl_LocalInvocationIndex;
  uint dk = pc.head_k_dim;
  uint dv = pc.head_v_dim;
  uint kh = h % pc.n_k_heads;
  uint q_base = kh * dk;
  uint k_base = pc.n_k_heads * dk + kh * dk;
  uint v_base = 2u * pc.n_k_heads * dk + h * dv;

  float q_squares = 0.0;
  float k_squares = 0.0;
  for (uint i = lane; i < dk; i += WORKGROUP_SIZE) {
    q_squares += qkv[q_base + i] * qkv[q_base + i];
    k_squares += qkv[k_base + i] * qkv[k_base + i];
  }
  q_squares = workgroup_sum(q_squares);
  k_squares = workgroup_sum(k_squares);
  float q_scale = 1.0 / (max(sqrt(q_squares), pc.eps) * sqrt(float(dk)));
  float k_scale = 1.0 / max(sqrt(k_squares), pc.eps);

  float beta = 1.0 / (1.0 + exp(-beta_in[h]));
  float z = alpha_in[h] + dt_bias[h];
  float softplus = z > 20.0 ? z : log(1.0 + exp(z));
  float decay = exp(a[h] * softplus);

  for (uint j = lane; j < dv; j += WORKGROUP_SIZE) {
    uint column = h * dk * dv + j;
    float key_sum = 0.0;
    for (uint i = 0; i < dk; ++i) key_sum += state[column + i * dv] * decay * (qkv[k_base + i] * k_scale);
    float delta = beta * (qkv[v_base + j] - key_sum);
    float out_value = 0.0;
    for (uint i = 0; i < dk; ++i) {
      float s = state[column + i * dv] * decay + (qkv[k_base + i] * k_scale) * delta;
      state[column + i * dv] = s;
      out_value += s * (qkv[q_base + i] * q_scale);
    }
    y[h * dv + j] = out_value;
  }
}
