// Causal attention with grouped-query heads over a GPU-resident KV cache, against the scalar
// reference: odd head counts, positions that end inside and on chunk boundaries, and one recorded
// command buffer re-submitted for successive positions (the way the plan compiler uses it). The
// attention that prepares its own q and k (per-head norms, RoPE, KV store: AttentionPreparation) is
// checked against the rope + attention dispatches it replaces.

#include <gtest/gtest.h>

#include <algorithm>
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
  // Heads of 40, and the widest the kernel takes here (4 values per invocation, at most 128): where
  // the workgroup is 32 wide (subgroup size 8), two invocations then share a key's dot product
  // (key_lanes in shaders/attention_partial.comp).
  const uint32_t widest =
      std::min(4 * pipelines(GetParam()).workgroup_size("attention_partial"), 128u);
  // 320 positions: several chunks and a combine step; 48 and 24: one chunk of one or two passes
  // (subgroup size 8 or 4), normalized in place, or three chunks.
  for (uint32_t head_dim : {40u, widest})
    for (uint32_t capacity : {320u, 48u, 24u})
      for (Heads heads : {Heads{9, 3}, Heads{7, 7}, Heads{5, 1}}) {
        SCOPED_TRACE(::testing::Message() << "head_dim " << head_dim << ", capacity " << capacity);
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

// Buffers of one way of computing a token's attention: its own q and k (rotated in place by the
// unprepared way), caches and output.
struct AttentionRun {
  Buffer q, k, key_cache, value_cache, scratch, out;
};

// The dispatches an AttentionPreparation replaces: RoPE of q with its norm, RoPE of k with its norm
// and the KV store, then the attention; against the prepared attention, at positions 0, inside and
// on both sides of chunk boundaries, with one chunk (normalized in place) and several (combined).
TEST_P(AttentionTest, PreparedQueryAndKeysMatchRopeAndStore) {
  struct Case {
    Heads heads;
    uint32_t head_dim, n_rot;
    bool neox;
  };
  Pipelines& kernels = pipelines(GetParam());
  const uint32_t single = attention_single_dispatch_positions(kernels);
  // Heads of 24 (one invocation per key dot product), 40 (two) and 4 x attention_partial's width,
  // at most 128 (four at subgroup size 8, two at 4), rotated in part as qwen35's are.
  const uint32_t widest = std::min(4 * kernels.workgroup_size("attention_partial"), 128u);
  for (uint32_t capacity : {single, 3 * single + 5})
    for (Case c : {Case{{6, 2}, 24, 24, true}, Case{{3, 3}, 40, 16, false},
                   Case{{4, 2}, widest, widest / 4, true}}) {
      SCOPED_TRACE(::testing::Message() << c.heads.n_heads << "/" << c.heads.n_kv_heads
                                        << " heads, capacity " << capacity);
      const uint32_t q_floats = c.heads.n_heads * c.head_dim;
      const uint32_t kv_dim = c.heads.n_kv_heads * c.head_dim;
      const AttentionShape shape{c.heads.n_heads, c.heads.n_kv_heads, c.head_dim,
                                 1.0f / std::sqrt(float(c.head_dim))};
      const RopeShape q_rope{c.heads.n_heads, c.head_dim, c.n_rot, c.neox};
      const RopeShape k_rope{c.heads.n_kv_heads, c.head_dim, c.n_rot, c.neox};
      // Earlier tokens' rows, the same in both caches.
      const std::vector<float> old_keys = random_floats(uint64_t{capacity} * kv_dim, 91);
      const std::vector<float> old_values = random_floats(uint64_t{capacity} * kv_dim, 92);
      const std::vector<float> inverse_frequencies = rope_inverse_frequencies(c.n_rot, 1000.0f);
      const std::vector<float> q_norm = random_floats(c.head_dim, 93, 0.5f, 1.5f);
      const std::vector<float> k_norm = random_floats(c.head_dim, 94, 0.5f, 1.5f);
      Buffer frequencies = upload_floats(inverse_frequencies);
      Buffer q_norm_weight = upload_floats(q_norm);
      Buffer k_norm_weight = upload_floats(k_norm);
      Buffer constants =
          upload_floats(attention_preparation_constants(q_norm, k_norm, inverse_frequencies));
      Buffer v = make_buffer(kv_dim * sizeof(float));
      Buffer step = make_buffer(sizeof(StepInputs));
      const uint64_t scratch_bytes =
          attention_scratch_floats(kernels, shape, capacity) * sizeof(float);
      auto make_run = [&] {
        return AttentionRun{make_buffer(q_floats * sizeof(float)),
                            make_buffer(kv_dim * sizeof(float)),
                            upload_floats(old_keys),
                            upload_floats(old_values),
                            make_buffer(scratch_bytes),
                            make_buffer(q_floats * sizeof(float))};
      };
      AttentionRun separate = make_run();
      AttentionRun prepared = make_run();
      auto caches = [&](const AttentionRun& run) {
        return KvCacheRanges{whole(run.key_cache), whole(run.value_cache), kv_dim, capacity};
      };

      const float q_eps = 1e-6f, k_eps = 1e-5f;
      const BufferRange q_norm_range = whole(q_norm_weight), k_norm_range = whole(k_norm_weight);
      const BufferRange v_range = whole(v);
      const KvCacheRanges separate_cache = caches(separate);
      CommandSequence separate_sequence(kernels);
      separate_sequence.begin();
      encode_rope(separate_sequence, whole(separate.q), whole(step), whole(frequencies), q_rope,
                  RopeFusions{&q_norm_range, q_eps, nullptr, nullptr});
      encode_rope(separate_sequence, whole(separate.k), whole(step), whole(frequencies), k_rope,
                  RopeFusions{&k_norm_range, k_eps, &separate_cache, &v_range});
      encode_attention(separate_sequence, whole(separate.q), separate_cache, whole(step),
                       whole(separate.scratch), whole(separate.out), shape);
      separate_sequence.end();
      const AttentionPreparation preparation{
          whole(prepared.k), v_range, whole(constants), q_eps, k_eps, c.n_rot, c.neox};
      CommandSequence prepared_sequence(kernels);
      prepared_sequence.begin();
      encode_attention(prepared_sequence, whole(prepared.q), caches(prepared), whole(step),
                       whole(prepared.scratch), whole(prepared.out), shape, &preparation);
      prepared_sequence.end();

      for (uint32_t pos :
           {0u, 1u, single / 2 - 1, single / 2, single - 1, single + 3, 3 * single + 4}) {
        if (pos >= capacity) continue;
        SCOPED_TRACE(::testing::Message() << "pos " << pos);
        const std::vector<float> q = random_floats(q_floats, 400 + pos, -2.0f, 2.0f);
        const std::vector<float> k = random_floats(kv_dim, 500 + pos, -2.0f, 2.0f);
        for (const AttentionRun* run : {&separate, &prepared}) {
          transfer().upload(run->q, 0, std::as_bytes(std::span(q)));
          transfer().upload(run->k, 0, std::as_bytes(std::span(k)));
        }
        const std::vector<float> values = random_floats(kv_dim, 600 + pos);
        transfer().upload(v, 0, std::as_bytes(std::span(values)));
        set_step(step, pos);
        separate_sequence.submit_and_wait();
        prepared_sequence.submit_and_wait();
        // The same operations on each value, but sums in other orders where the kernels' widths
        // (the norms') or key_lanes (the scores') differ: equal up to rounding.
        const std::vector<float> expected = download_floats(separate.out, q_floats);
        const std::vector<float> actual = download_floats(prepared.out, q_floats);
        EXPECT_LE(nmse(actual, expected), 1e-12);
        const uint64_t cache_floats = uint64_t{capacity} * kv_dim;
        EXPECT_LE(nmse(download_floats(prepared.key_cache, cache_floats),
                       download_floats(separate.key_cache, cache_floats)),
                  1e-12);
        EXPECT_EQ(download_floats(prepared.value_cache, cache_floats),
                  download_floats(separate.value_cache, cache_floats));
        // Only the raw inputs are read: the prepared way leaves q and k as they came.
        EXPECT_EQ(download_floats(prepared.q, q_floats), q);
        if (pos == 3 * single + 4)
          std::printf("[exact] prepared attention %u/%u heads subgroup=%u %s: %s\n",
                      c.heads.n_heads, c.heads.n_kv_heads, context().info().subgroup_size,
                      GetParam() ? "subgroup-reduce" : "shmem-reduce",
                      actual == expected ? "bit-identical" : "differs");
      }
    }
}

INSTANTIATE_TEST_SUITE_P(BothReductions, AttentionTest, ::testing::Bool(), reduction_case_name);

}  // namespace
}  // namespace quant::vulkan::test
