// Causal attention with grouped-query heads over a GPU-resident KV cache, against the scalar
// reference: odd head counts, positions that end inside and on chunk boundaries, and one recorded
// command buffer re-submitted for successive positions (the way the plan compiler uses it).

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "backend/vulkan/kernels.h"
#include "reference.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

constexpr double kAttentionTolerance = 5e-4;

struct Heads {
  uint32_t n_heads, n_kv_heads;
};

class AttentionTest : public VulkanTest, public ::testing::WithParamInterface<bool> {
 protected:
  void set_step(const Buffer& step, uint32_t pos) {
    StepInputs inputs{0, pos};
    transfer().upload(step, 0, std::as_bytes(std::span(&inputs, 1)));
  }
};

TEST_P(AttentionTest, MatchesReferenceAtSeveralPositions) {
  const uint32_t head_dim = 40;
  // 320 positions: several chunks and a combine step; 48 and 24: one chunk of one or two passes
  // (subgroup size 8 or 4), normalized in place, or three chunks.
  for (uint32_t capacity : {320u, 48u, 24u})
    for (Heads heads : {Heads{9, 3}, Heads{7, 7}, Heads{5, 1}}) {
      const uint32_t kv_dim = heads.n_kv_heads * head_dim;
      const AttentionShape shape{heads.n_heads, heads.n_kv_heads, head_dim,
                                 1.0f / std::sqrt(float(head_dim))};
      // Every cache row is filled, so a read past the current position would show.
      std::vector<float> keys = random_floats(capacity * kv_dim, 81);
      std::vector<float> values = random_floats(capacity * kv_dim, 82);
      std::vector<float> q = random_floats(heads.n_heads * head_dim, 83, -2.0f, 2.0f);
      Buffer key_buffer = upload_floats(keys);
      Buffer value_buffer = upload_floats(values);
      Buffer q_buffer = upload_floats(q);
      Buffer scratch = make_buffer(
          attention_scratch_floats(pipelines(GetParam()), shape, capacity) * sizeof(float));
      Buffer out = make_buffer(q.size() * sizeof(float));
      Buffer step = make_buffer(sizeof(StepInputs));
      const KvCacheRanges cache{whole(key_buffer), whole(value_buffer), kv_dim, capacity};

      CommandSequence sequence(pipelines(GetParam()));
      sequence.begin();
      encode_attention(sequence, whole(q_buffer), cache, whole(step), whole(scratch), whole(out),
                       shape);
      sequence.end();
      for (uint32_t pos : {0u, 17u, 63u, 299u, capacity - 1}) {
        if (pos >= capacity) continue;
        set_step(step, pos);
        sequence.submit_and_wait();
        std::vector<float> expected = reference_attention(
            q, keys, values, heads.n_heads, heads.n_kv_heads, head_dim, pos, shape.scale);
        double error = nmse(download_floats(out, q.size()), expected);
        if (pos == 299)
          std::printf("[nmse] attention %u/%u heads pos %u subgroup=%u %s: %.3g\n", heads.n_heads,
                      heads.n_kv_heads, pos, context().info().subgroup_size,
                      GetParam() ? "subgroup-reduce" : "shmem-reduce", error);
        EXPECT_LE(error, kAttentionTolerance)
            << heads.n_heads << "/" << heads.n_kv_heads << " pos " << pos;
      }
    }
}

// kv_store + attention recorded once; each submission appends the next position's keys and values.
TEST_P(AttentionTest, RecordedOnceFollowsThePosition) {
  const Heads heads{6, 2};
  const uint32_t head_dim = 24;
  const uint32_t capacity = 40;
  const uint32_t kv_dim = heads.n_kv_heads * head_dim;
  const AttentionShape shape{heads.n_heads, heads.n_kv_heads, head_dim, 0.3f};
  Buffer key_cache = make_buffer(capacity * kv_dim * sizeof(float));
  Buffer value_cache = make_buffer(capacity * kv_dim * sizeof(float));
  Buffer k = make_buffer(kv_dim * sizeof(float));
  Buffer v = make_buffer(kv_dim * sizeof(float));
  Buffer q = make_buffer(heads.n_heads * head_dim * sizeof(float));
  Buffer scratch =
      make_buffer(attention_scratch_floats(pipelines(GetParam()), shape, capacity) * sizeof(float));
  Buffer out = make_buffer(heads.n_heads * head_dim * sizeof(float));
  Buffer step = make_buffer(sizeof(StepInputs));
  const KvCacheRanges cache{whole(key_cache), whole(value_cache), kv_dim, capacity};

  CommandSequence sequence(pipelines(GetParam()));
  sequence.begin();
  encode_kv_store(sequence, whole(k), whole(v), cache, whole(step));
  encode_attention(sequence, whole(q), cache, whole(step), whole(scratch), whole(out), shape);
  sequence.end();

  std::vector<float> all_keys;
  std::vector<float> all_values;
  double worst = 0.0;
  for (uint32_t pos = 0; pos < capacity; ++pos) {
    std::vector<float> new_k = random_floats(kv_dim, 100 + pos);
    std::vector<float> new_v = random_floats(kv_dim, 200 + pos);
    std::vector<float> new_q = random_floats(heads.n_heads * head_dim, 300 + pos);
    all_keys.insert(all_keys.end(), new_k.begin(), new_k.end());
    all_values.insert(all_values.end(), new_v.begin(), new_v.end());
    transfer().upload(k, 0, std::as_bytes(std::span(new_k)));
    transfer().upload(v, 0, std::as_bytes(std::span(new_v)));
    transfer().upload(q, 0, std::as_bytes(std::span(new_q)));
    set_step(step, pos);
    sequence.submit_and_wait();
    std::vector<float> expected = reference_attention(new_q, all_keys, all_values, heads.n_heads,
                                                      heads.n_kv_heads, head_dim, pos, shape.scale);
    double error = nmse(download_floats(out, new_q.size()), expected);
    worst = std::max(worst, error);
    EXPECT_LE(error, kAttentionTolerance) << "pos " << pos;
  }
  std::printf("[nmse] attention recorded-once worst over %u positions subgroup=%u: %.3g\n",
              capacity, context().info().subgroup_size, worst);
}

INSTANTIATE_TEST_SUITE_P(BothReductions, AttentionTest, ::testing::Bool(), reduction_case_name);

}  // namespace
}  // namespace quant::vulkan::test
