#include "backend/cpu/kernels_deltanet.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace quant::cpu {

namespace {

float silu(float x) {
  return x / (1.0f + std::exp(-x));
}

// 1 / max(|x|, eps): the L2 normalization's scale, with the sum of squares in double.
float inverse_l2_norm(const float* x, uint32_t n, float eps) {
  double sum_squares = 0.0;
  for (uint32_t i = 0; i < n; ++i) sum_squares += double{x[i]} * x[i];
  return 1.0f / std::max(static_cast<float>(std::sqrt(sum_squares)), eps);
}

}  // namespace

void causal_conv1d_silu(const float* in, size_t in_stride, const float* weight, float* state,
                        float* out, size_t out_stride, uint32_t n_tokens, uint32_t n_channels,
                        uint32_t kernel, uint32_t channel_begin, uint32_t channel_end) {
  const int64_t history = int64_t{kernel} - 1;
  for (uint32_t c = channel_begin; c < channel_end; ++c) {
    const float* taps = weight + size_t{c} * kernel;
    // The input at time t relative to the first token of the batch (t < 0: from the state).
    const auto input = [&](int64_t t) {
      return t >= 0 ? in[static_cast<size_t>(t) * in_stride + c]
                    : state[static_cast<size_t>(history + t) * n_channels + c];
    };
    for (uint32_t b = 0; b < n_tokens; ++b) {
      float sum = 0.0f;
      for (int64_t j = 0; j <= history; ++j) sum += taps[j] * input(int64_t{b} - history + j);
      out[b * out_stride + c] = silu(sum);
    }
    // Shift the window by n_tokens; ascending order reads each old slot before it is overwritten.
    for (int64_t s = 0; s < history; ++s)
      state[static_cast<size_t>(s) * n_channels + c] = input(int64_t{n_tokens} - history + s);
  }
}

float delta_net_decay(float a, float alpha, float dt_bias) {
  const float x = alpha + dt_bias;
  const float softplus = x > 20.0f ? x : std::log1p(std::exp(x));
  return a * softplus;
}

float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

void gated_delta_net_head(const float* q, const float* k, const float* v, float g, float beta,
                          float eps, uint32_t head_k_dim, uint32_t head_v_dim, float* state,
                          float* scratch, float* out) {
  const float q_scale =
      inverse_l2_norm(q, head_k_dim, eps) / std::sqrt(static_cast<float>(head_k_dim));
  const float k_scale = inverse_l2_norm(k, head_k_dim, eps);
  const float decay = std::exp(g);

  // S <- exp(g) S, and scratch = S^T k on the decayed S.
  float* delta = scratch;
  std::fill(delta, delta + head_v_dim, 0.0f);
  for (uint32_t i = 0; i < head_k_dim; ++i) {
    float* row = state + size_t{i} * head_v_dim;
    const float ki = k[i] * k_scale;
    for (uint32_t j = 0; j < head_v_dim; ++j) {
      row[j] *= decay;
      delta[j] += row[j] * ki;
    }
  }
  // delta = beta (v - S^T k).
  for (uint32_t j = 0; j < head_v_dim; ++j) delta[j] = beta * (v[j] - delta[j]);
  // S <- S + k delta^T, and out = S^T q on the updated S.
  std::fill(out, out + head_v_dim, 0.0f);
  for (uint32_t i = 0; i < head_k_dim; ++i) {
    float* row = state + size_t{i} * head_v_dim;
    const float ki = k[i] * k_scale;
    const float qi = q[i] * q_scale;
    for (uint32_t j = 0; j < head_v_dim; ++j) {
      row[j] += ki * delta[j];
      out[j] += row[j] * qi;
    }
  }
}

}  // namespace quant::cpu
