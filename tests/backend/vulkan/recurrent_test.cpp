// The ops of qwen35's Gated DeltaNet and gated attention layers against the scalar reference: head
// slicing, the sigmoid gate, the causal convolution and the gated delta rule, the last two over
// several tokens of one recorded command buffer that carries their state from token to token.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "backend/vulkan/kernels.h"
#include "reference.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

constexpr double kElementwiseTolerance = 1e-6;
constexpr double kRecurrentTolerance = 5e-4;

class RecurrentTest : public VulkanTest, public ::testing::WithParamInterface<bool> {};

TEST_F(VulkanTest, SliceHeadsAndSigmoidGate) {
  const SliceShape shape{5, 2 * 24, 24, 24};  // the gates half of [query_h | gate_h] heads
  std::vector<float> in = random_floats(shape.n_heads * shape.in_head_stride, 91);
  std::vector<float> x = random_floats(shape.n_heads * shape.size, 92);
  Buffer in_buffer = upload_floats(in);
  Buffer x_buffer = upload_floats(x);
  Buffer gates = make_buffer(x.size() * sizeof(float));

  CommandSequence sequence(pipelines(true));
  sequence.begin();
  encode_slice_heads(sequence, whole(in_buffer), whole(gates), shape);
  encode_sigmoid_gate(sequence, whole(x_buffer), whole(gates), whole(x_buffer),
                      static_cast<uint32_t>(x.size()));  // in place
  sequence.end();
  sequence.submit_and_wait();

  std::vector<float> expected_gates(x.size());
  std::vector<float> expected(x.size());
  for (uint32_t h = 0; h < shape.n_heads; ++h) {
    for (uint32_t i = 0; i < shape.size; ++i) {
      const uint32_t at = h * shape.size + i;
      expected_gates[at] = in[h * shape.in_head_stride + shape.in_offset + i];
      expected[at] = static_cast<float>(x[at] / (1.0 + std::exp(-double{expected_gates[at]})));
    }
  }
  EXPECT_EQ(download_floats(gates, x.size()), expected_gates);
  const double error = nmse(download_floats(x_buffer, x.size()), expected);
  std::printf("[nmse] sigmoid_gate subgroup=%u: %.3g\n", context().info().subgroup_size, error);
  EXPECT_LE(error, kElementwiseTolerance);
}

TEST_P(RecurrentTest, ConvolutionAndDeltaRuleCarryStateAcrossTokens) {
  const uint32_t n_channels = 37;
  const uint32_t kernel = 4;
  const DeltaNetShape shape{2, 6, 24, 20, 1e-6f};
  const uint32_t qkv_floats =
      2 * shape.n_k_heads * shape.head_k_dim + shape.n_v_heads * shape.head_v_dim;
  const uint64_t state_floats = uint64_t{shape.n_v_heads} * shape.head_k_dim * shape.head_v_dim;

  std::vector<float> conv_weight = random_floats(n_channels * kernel, 101);
  std::vector<float> a = random_floats(shape.n_v_heads, 102, -2.0f, -0.1f);
  std::vector<float> dt_bias = random_floats(shape.n_v_heads, 103);
  Buffer conv_weight_buffer = upload_floats(conv_weight);
  Buffer a_buffer = upload_floats(a);
  Buffer dt_bias_buffer = upload_floats(dt_bias);
  Buffer conv_in = make_buffer(n_channels * sizeof(float));
  Buffer conv_state = make_buffer((kernel - 1) * n_channels * sizeof(float));
  Buffer conv_out = make_buffer(n_channels * sizeof(float));
  Buffer qkv = make_buffer(qkv_floats * sizeof(float));
  Buffer alpha = make_buffer(shape.n_v_heads * sizeof(float));
  Buffer beta = make_buffer(shape.n_v_heads * sizeof(float));
  Buffer delta_state = make_buffer(state_floats * sizeof(float));
  Buffer delta_out = make_buffer(shape.n_v_heads * shape.head_v_dim * sizeof(float));
  transfer().fill_zero(conv_state);
  transfer().fill_zero(delta_state);

  CommandSequence sequence(pipelines(GetParam()));
  sequence.begin();
  encode_causal_conv1d_silu(sequence, whole(conv_in), whole(conv_weight_buffer), whole(conv_state),
                            whole(conv_out), n_channels, kernel);
  encode_gated_delta_net(sequence, whole(qkv),
                         {whole(alpha), whole(beta), whole(a_buffer), whole(dt_bias_buffer)},
                         whole(delta_state), whole(delta_out), shape);
  sequence.end();

  std::vector<double> expected_conv_state((kernel - 1) * n_channels, 0.0);
  std::vector<double> expected_delta_state(state_floats, 0.0);
  double worst_conv = 0.0;
  double worst_delta = 0.0;
  for (uint32_t token = 0; token < 6; ++token) {
    std::vector<float> in = random_floats(n_channels, 110 + token);
    std::vector<float> qkv_values = random_floats(qkv_floats, 120 + token);
    std::vector<float> alpha_values = random_floats(shape.n_v_heads, 130 + token);
    std::vector<float> beta_values = random_floats(shape.n_v_heads, 140 + token, -3.0f, 3.0f);
    transfer().upload(conv_in, 0, std::as_bytes(std::span(in)));
    transfer().upload(qkv, 0, std::as_bytes(std::span(qkv_values)));
    transfer().upload(alpha, 0, std::as_bytes(std::span(alpha_values)));
    transfer().upload(beta, 0, std::as_bytes(std::span(beta_values)));
    sequence.submit_and_wait();

    const double conv_error = nmse(
        download_floats(conv_out, n_channels),
        reference_causal_conv1d_silu(in, conv_weight, expected_conv_state, n_channels, kernel));
    const double delta_error = nmse(
        download_floats(delta_out, shape.n_v_heads * shape.head_v_dim),
        reference_gated_delta_net(
            qkv_values, alpha_values, beta_values, a, dt_bias, expected_delta_state,
            {shape.n_k_heads, shape.n_v_heads, shape.head_k_dim, shape.head_v_dim, shape.eps}));
    worst_conv = std::max(worst_conv, conv_error);
    worst_delta = std::max(worst_delta, delta_error);
    EXPECT_LE(conv_error, kElementwiseTolerance) << "token " << token;
    EXPECT_LE(delta_error, kRecurrentTolerance) << "token " << token;
  }
  std::printf(
      "[nmse] causal_conv1d_silu / gated_delta_net over 6 tokens subgroup=%u %s: %.3g / %.3g\n",
      context().info().subgroup_size, GetParam() ? "subgroup-reduce" : "shmem-reduce", worst_conv,
      worst_delta);
}

INSTANTIATE_TEST_SUITE_P(BothReductions, RecurrentTest, ::testing::Bool(), reduction_case_name);

}  // namespace
}  // namespace quant::vulkan::test
