// RMSNorm (whole vector and per head, in place), RoPE (both styles, partial rotation, and with a
// per-head norm and the KV store folded in), KV store, SwiGLU and residual add against the scalar
// reference.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "backend/vulkan/kernels.h"
#include "reference.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

constexpr double kElementwiseTolerance = 1e-6;

class ElementwiseTest : public VulkanTest {
 protected:
  Buffer upload_step(uint32_t token, uint32_t pos) {
    StepInputs step{token, pos};
    Buffer buffer = make_buffer(sizeof(step), MemoryRole::Activations, "step");
    transfer().upload(buffer, 0, std::as_bytes(std::span(&step, 1)));
    return buffer;
  }
  void report(const char* kernel, double error) {
    std::printf("[nmse] %s subgroup=%u: %.3g\n", kernel, context().info().subgroup_size, error);
  }
};

class RmsNormTest : public ElementwiseTest, public ::testing::WithParamInterface<bool> {};

TEST_P(RmsNormTest, WholeVectorAndPerHead) {
  struct Shape {
    uint32_t n_groups, group_size;
    bool in_place;
  };
  for (Shape shape : {Shape{1, 333, false}, Shape{7, 40, false}, Shape{5, 72, true}}) {
    const uint32_t n = shape.n_groups * shape.group_size;
    std::vector<float> x = random_floats(n, 41, -3.0f, 3.0f);
    std::vector<float> weight = random_floats(shape.group_size, 42, 0.5f, 1.5f);
    Buffer x_buffer = upload_floats(x);
    Buffer weight_buffer = upload_floats(weight);
    Buffer y_buffer = make_buffer(n * sizeof(float));
    const Buffer& out = shape.in_place ? x_buffer : y_buffer;

    CommandSequence sequence(pipelines(GetParam()));
    sequence.begin();
    encode_rms_norm(sequence, whole(x_buffer), whole(weight_buffer), whole(out), shape.n_groups,
                    shape.group_size, 1e-5f);
    sequence.end();
    sequence.submit_and_wait();

    double error = nmse(download_floats(out, n),
                        reference_rms_norm(x, weight, shape.n_groups, shape.group_size, 1e-5f));
    report(GetParam() ? "rms_norm subgroup-reduce" : "rms_norm shmem-reduce", error);
    EXPECT_LE(error, kElementwiseTolerance) << shape.n_groups << " x " << shape.group_size;
  }
}

INSTANTIATE_TEST_SUITE_P(BothReductions, RmsNormTest, ::testing::Bool(), reduction_case_name);

TEST_F(ElementwiseTest, RopeBothStylesFullAndPartial) {
  const uint32_t n_heads = 5;
  const uint32_t head_dim = 40;
  const float theta = 10000.0f;
  for (bool neox : {false, true}) {
    for (uint32_t n_rot : {40u, 24u}) {
      for (uint32_t pos : {0u, 1u, 299u}) {
        std::vector<float> x = random_floats(n_heads * head_dim, 51 + pos);
        std::vector<float> frequencies = rope_inverse_frequencies(n_rot, theta);
        Buffer x_buffer = upload_floats(x);
        Buffer frequency_buffer = upload_floats(frequencies);
        Buffer step = upload_step(0, pos);

        CommandSequence sequence(pipelines(true));
        sequence.begin();
        encode_rope(sequence, whole(x_buffer), whole(step), whole(frequency_buffer),
                    RopeShape{n_heads, head_dim, n_rot, neox});
        sequence.end();
        sequence.submit_and_wait();

        std::vector<float> expected = reference_rope(x, n_heads, head_dim, n_rot, neox, pos, theta);
        std::vector<float> actual = download_floats(x_buffer, x.size());
        double error = nmse(actual, expected);
        if (pos == 299) report(neox ? "rope neox" : "rope adjacent", error);
        EXPECT_LE(error, kElementwiseTolerance)
            << "neox " << neox << " n_rot " << n_rot << " pos " << pos;
        // Values past n_rot are left alone.
        for (uint32_t h = 0; h < n_heads; ++h)
          for (uint32_t d = n_rot; d < head_dim; ++d)
            EXPECT_EQ(actual[h * head_dim + d], x[h * head_dim + d]);
      }
    }
  }
}

// RoPE with the per-head norm folded in and the KV store in its epilogue (fusion.h), against the
// three ops done one after the other by the reference.
class FusedRopeTest : public ElementwiseTest, public ::testing::WithParamInterface<bool> {};

TEST_P(FusedRopeTest, NormRopeAndStoreMatchOpByOp) {
  const uint32_t capacity = 7;
  const uint32_t pos = 4;
  const float theta = 1e6f;
  struct Shape {
    uint32_t n_heads, head_dim, n_rot;
    bool neox;
  };
  for (Shape shape : {Shape{3, 40, 40, false}, Shape{2, 256, 64, true}}) {
    const uint32_t n = shape.n_heads * shape.head_dim;
    std::vector<float> x = random_floats(n, 81, -3.0f, 3.0f);
    std::vector<float> v = random_floats(n, 82);
    std::vector<float> norm_weight = random_floats(shape.head_dim, 83, 0.5f, 1.5f);
    std::vector<float> old_cache = random_floats(capacity * n, 84);
    Buffer x_buffer = upload_floats(x);
    Buffer v_buffer = upload_floats(v);
    Buffer weight_buffer = upload_floats(norm_weight);
    Buffer frequency_buffer = upload_floats(rope_inverse_frequencies(shape.n_rot, theta));
    Buffer keys = upload_floats(old_cache);
    Buffer values = upload_floats(old_cache);
    Buffer step = upload_step(0, pos);
    const BufferRange weight_range = whole(weight_buffer);
    const BufferRange v_range = whole(v_buffer);
    const KvCacheRanges cache{whole(keys), whole(values), n, capacity};

    CommandSequence sequence(pipelines(GetParam()));
    sequence.begin();
    encode_rope(
        sequence, whole(x_buffer), whole(step), whole(frequency_buffer),
        RopeShape{shape.n_heads, shape.head_dim, shape.n_rot, shape.neox},
        {.norm_weight = &weight_range, .norm_eps = 1e-6f, .cache = &cache, .values = &v_range});
    sequence.end();
    sequence.submit_and_wait();

    const std::vector<float> normed =
        reference_rms_norm(x, norm_weight, shape.n_heads, shape.head_dim, 1e-6f);
    const std::vector<float> expected =
        reference_rope(normed, shape.n_heads, shape.head_dim, shape.n_rot, shape.neox, pos, theta);
    const std::vector<float> actual = download_floats(x_buffer, n);
    const double error = nmse(actual, expected);
    report(GetParam() ? "fused rope subgroup-reduce" : "fused rope shmem-reduce", error);
    EXPECT_LE(error, kElementwiseTolerance) << shape.head_dim;
    const std::vector<float> new_keys = download_floats(keys, capacity * n);
    const std::vector<float> new_values = download_floats(values, capacity * n);
    for (uint32_t t = 0; t < capacity; ++t) {
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t at = t * n + i;
        ASSERT_EQ(new_keys[at], t == pos ? actual[i] : old_cache[at]) << t << " " << i;
        ASSERT_EQ(new_values[at], t == pos ? v[i] : old_cache[at]) << t << " " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BothReductions, FusedRopeTest, ::testing::Bool(), reduction_case_name);

TEST_F(ElementwiseTest, KvStoreWritesOnlyTheCurrentPosition) {
  const uint32_t kv_dim = 3 * 40;
  const uint32_t capacity = 9;
  const uint32_t pos = 5;
  std::vector<float> k = random_floats(kv_dim, 61);
  std::vector<float> v = random_floats(kv_dim, 62);
  std::vector<float> old_cache = random_floats(capacity * kv_dim, 63);
  Buffer k_buffer = upload_floats(k);
  Buffer v_buffer = upload_floats(v);
  Buffer keys = upload_floats(old_cache);
  Buffer values = upload_floats(old_cache);
  Buffer step = upload_step(0, pos);

  CommandSequence sequence(pipelines(true));
  sequence.begin();
  encode_kv_store(sequence, whole(k_buffer), whole(v_buffer),
                  {whole(keys), whole(values), kv_dim, capacity}, whole(step));
  sequence.end();
  sequence.submit_and_wait();

  std::vector<float> new_keys = download_floats(keys, capacity * kv_dim);
  std::vector<float> new_values = download_floats(values, capacity * kv_dim);
  for (uint32_t t = 0; t < capacity; ++t) {
    for (uint32_t i = 0; i < kv_dim; ++i) {
      const uint32_t at = t * kv_dim + i;
      EXPECT_EQ(new_keys[at], t == pos ? k[i] : old_cache[at]);
      EXPECT_EQ(new_values[at], t == pos ? v[i] : old_cache[at]);
    }
  }
}

TEST_F(ElementwiseTest, SwiGluAndAddInPlace) {
  const uint32_t n = 1001;
  std::vector<float> gate = random_floats(n, 71, -6.0f, 6.0f);
  std::vector<float> up = random_floats(n, 72);
  std::vector<float> residual = random_floats(n, 73);
  Buffer gate_buffer = upload_floats(gate);
  Buffer up_buffer = upload_floats(up);
  Buffer residual_buffer = upload_floats(residual);

  CommandSequence sequence(pipelines(true));
  sequence.begin();
  encode_swiglu(sequence, whole(gate_buffer), whole(up_buffer), whole(gate_buffer),
                n);  // gate = silu(gate)*up
  encode_add(sequence, whole(residual_buffer), whole(gate_buffer), whole(residual_buffer),
             n);  // residual += gate
  sequence.end();
  sequence.submit_and_wait();

  std::vector<float> expected_swiglu = reference_swiglu(gate, up);
  std::vector<float> expected_sum(n);
  for (uint32_t i = 0; i < n; ++i) expected_sum[i] = residual[i] + expected_swiglu[i];
  double swiglu_error = nmse(download_floats(gate_buffer, n), expected_swiglu);
  double add_error = nmse(download_floats(residual_buffer, n), expected_sum);
  report("swiglu", swiglu_error);
  report("add", add_error);
  EXPECT_LE(swiglu_error, kElementwiseTolerance);
  EXPECT_LE(add_error, kElementwiseTolerance);
}

}  // namespace
}  // namespace quant::vulkan::test
