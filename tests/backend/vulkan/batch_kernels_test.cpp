// The batched prefill's kernels against the float64 references of reference.h, run token by token:
// the matrix-matrix product for every weight type at row counts and batch sizes that are not
// multiples of its tile (nor of each other), with a residual accumulated and with a matrix split
// over several bindings; the batch embedding, RoPE and KV store at positions past the cache's
// start; and causal attention of a batch of queries (grouped-query heads, every cache row filled so
// that a read past a query's position would show).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/vulkan/batch_kernels.h"
#include "backend/vulkan/kernels.h"
#include "backend/vulkan/weight_layout.h"
#include "reference.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

// float32 sums of a few hundred terms against float64: rounding, far below a wrong element.
constexpr double kMatmulTolerance = 1e-10;
// Attention also goes through exp() (lavapipe's is accurate to a few ulp).
constexpr double kAttentionTolerance = 1e-10;
constexpr double kRopeTolerance = 1e-10;
// The same decoding as the reference; only FMA contraction may differ.
constexpr double kDequantTolerance = 1e-12;

// W X token by token with the float64 reference, plus `initial` (the accumulated residual).
std::vector<float> reference_matmul(TensorType type, std::span<const uint8_t> weights,
                                    uint64_t rows, uint64_t cols, std::span<const float> x,
                                    uint32_t n_tokens, std::span<const float> initial) {
  std::vector<float> y;
  for (uint32_t t = 0; t < n_tokens; ++t) {
    std::vector<float> row = reference_matvec(type, weights, rows, cols, x.subspan(t * cols, cols));
    y.insert(y.end(), row.begin(), row.end());
  }
  for (size_t i = 0; i < initial.size(); ++i) y[i] += initial[i];
  return y;
}

class BatchKernelTest : public VulkanTest {
 protected:
  Buffer upload_inputs(std::span<const uint32_t> tokens, uint32_t pos) {
    std::vector<uint32_t> words{pos};
    words.insert(words.end(), tokens.begin(), tokens.end());
    Buffer buffer = make_buffer(batch_inputs_bytes(static_cast<uint32_t>(tokens.size())));
    transfer().upload(buffer, 0, std::as_bytes(std::span(words)));
    return buffer;
  }
  void run(Pipelines& pipelines, const auto& encode) {
    CommandSequence sequence(pipelines);
    sequence.begin();
    encode(sequence);
    sequence.end();
    sequence.submit_and_wait();
  }
};

class MatmulTest : public BatchKernelTest, public ::testing::WithParamInterface<TensorType> {};

TEST_P(MatmulTest, MatchesTheReferenceAtOddShapes) {
  const TensorType type = GetParam();
  const uint64_t cols = test_cols(type);
  double worst = 0.0;
  // 37 and 70 rows: never a whole number of tiles (8, 16 or 64 rows); 70 tokens: a second token
  // tile.
  for (uint64_t rows : {37u, 70u}) {
    const std::vector<uint8_t> weights = make_weights(type, rows, cols, 11, false);
    Buffer weight_buffer = upload_bytes(device_layout(type, rows, cols, weights), "weights");
    for (uint32_t n_tokens : {1u, 3u, 17u, 70u}) {
      const std::vector<float> x = random_floats(n_tokens * cols, 12 + n_tokens);
      Buffer x_buffer = upload_floats(x, "x");
      Buffer y_buffer = make_buffer(n_tokens * rows * sizeof(float), MemoryRole::Activations, "y");
      run(pipelines(true), [&](CommandSequence& sequence) {
        encode_matmul(sequence, {&weight_buffer, 0, type, rows, cols}, whole(x_buffer),
                      whole(y_buffer), n_tokens);
      });
      const double error = nmse(download_floats(y_buffer, n_tokens * rows),
                                reference_matmul(type, weights, rows, cols, x, n_tokens, {}));
      worst = std::max(worst, error);
      EXPECT_LE(error, kMatmulTolerance) << rows << " rows, " << n_tokens << " tokens";
    }
  }
  std::printf("[nmse] matmul %s subgroup=%u: %.3g\n", type_label(type).c_str(),
              context().info().subgroup_size, worst);
}

std::string type_case_name(const ::testing::TestParamInfo<TensorType>& info) {
  return type_label(info.param);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTest, ::testing::ValuesIn(kWeightTypes), type_case_name);

// Random bits reach the quant patterns a quantizer rarely writes (the fast paths' decoding), and
// the residual is accumulated into y.
TEST_F(BatchKernelTest, MatmulAccumulatesRandomBitWeights) {
  struct Case {
    TensorType type;
    uint64_t rows;
    uint32_t n_tokens;
    bool halves;  // scratch given: the short matrices' columns in two halves
  };
  // 9 tokens: part of one tile of tokens; 70: more than one. 4096 rows: the wide kernels
  // (batch_kernels.cpp: kMatmulWideRows).
  for (auto [type, rows, n_tokens, halves] :
       {Case{TensorType::Q8_0, 29, 9, false}, Case{TensorType::Q4_K, 29, 70, false},
        Case{TensorType::Q6_K, 29, 9, false}, Case{TensorType::Q4_K, 4096, 70, true},
        Case{TensorType::Q6_K, 4096, 9, false}, Case{TensorType::Q8_0, 4096, 9, false},
        Case{TensorType::Q8_0, 29, 9, true}, Case{TensorType::Q4_K, 29, 70, true},
        Case{TensorType::Q6_K, 29, 9, true}}) {
    const uint64_t cols = 512;
    const std::vector<uint8_t> weights = make_weights(type, rows, cols, 21, true);
    Buffer weight_buffer = upload_bytes(device_layout(type, rows, cols, weights), "weights");
    const WeightMatrix matrix{&weight_buffer, 0, type, rows, cols};
    const uint64_t scratch_floats = matmul_scratch_floats(pipelines(true), matrix, n_tokens);
    // Whether this device's shared memory holds the type's wide tile (not with 32 KB and
    // subgroups of 32): only then are the short matrices cut.
    const bool wide_fits = matmul_kernel(pipelines(true), {&weight_buffer, 0, type, 4096, cols})
                               .starts_with("matmul_wide_");
    EXPECT_EQ(wide_fits, context().info().max_compute_shared_memory_bytes >= 48 * 1024 ||
                             context().info().subgroup_size < 32);
    EXPECT_EQ(scratch_floats, rows < 4096 && wide_fits ? n_tokens * rows : 0);
    const std::vector<float> x = random_floats(n_tokens * cols, 22);
    const std::vector<float> residual = random_floats(n_tokens * rows, 23);
    Buffer x_buffer = upload_floats(x, "x");
    Buffer y_buffer = upload_floats(residual, "y");
    Buffer scratch = make_buffer(std::max<uint64_t>(4, scratch_floats * sizeof(float)));
    run(pipelines(true), [&](CommandSequence& sequence) {
      std::optional<BufferRange> halves_scratch;
      if (halves) halves_scratch = whole(scratch);
      encode_matmul(sequence, matrix, whole(x_buffer), whole(y_buffer), n_tokens,
                    /*accumulate=*/true, halves_scratch);
    });
    EXPECT_LE(nmse(download_floats(y_buffer, n_tokens * rows),
                   reference_matmul(type, weights, rows, cols, x, n_tokens, residual)),
              kMatmulTolerance)
        << type_label(type) << ", " << rows << " rows, " << n_tokens << " tokens"
        << (halves ? ", in halves" : "");
  }
}

// A matrix larger than one binding is split by rows; it starts at an offset inside its buffer that
// is a multiple of 16 but not of the binding alignment. The batch embedding reads rows of every
// part.
TEST_F(BatchKernelTest, MatmulAndEmbeddingAcrossBindings) {
  Pipelines small_bindings(context(), PipelineOptions{.max_binding_bytes = 4096});
  for (TensorType type : {TensorType::Q6_K, TensorType::Q8_0, TensorType::F16}) {
    const uint64_t rows = 41;
    const uint64_t cols = 256;
    const uint32_t n_tokens = 4;  // the activations fit one binding
    const uint64_t offset = 16 * (context().info().min_storage_buffer_offset_alignment / 16 + 1);
    const std::vector<uint8_t> weights = make_weights(type, rows, cols, 31, false);
    const std::vector<uint8_t> device = device_layout(type, rows, cols, weights);
    Buffer buffer = make_buffer(offset + device.size(), MemoryRole::Weights, "offset weights");
    transfer().upload(buffer, offset, std::as_bytes(std::span(device)));
    const std::vector<float> x = random_floats(n_tokens * cols, 32);
    Buffer x_buffer = upload_floats(x);
    Buffer y_buffer = make_buffer(n_tokens * rows * sizeof(float));
    const std::vector<uint32_t> tokens = {40, 0, 17, 40};
    Buffer inputs = upload_inputs(tokens, 0);
    Buffer rows_buffer = make_buffer(n_tokens * cols * sizeof(float));
    const WeightMatrix matrix{&buffer, offset, type, rows, cols};
    uint32_t dispatches = 0;
    run(small_bindings, [&](CommandSequence& sequence) {
      encode_matmul(sequence, matrix, whole(x_buffer), whole(y_buffer), n_tokens);
      dispatches = sequence.dispatch_count();
      encode_embed_batch(sequence, matrix, whole(inputs), whole(rows_buffer), n_tokens);
    });
    EXPECT_GT(dispatches, 2u) << type_label(type);
    EXPECT_LE(nmse(download_floats(y_buffer, n_tokens * rows),
                   reference_matmul(type, weights, rows, cols, x, n_tokens, {})),
              kMatmulTolerance)
        << type_label(type);
    std::vector<float> expected;
    for (uint32_t token : tokens) {
      const std::vector<float> row = reference_row(type, weights, cols, token);
      expected.insert(expected.end(), row.begin(), row.end());
    }
    EXPECT_LE(nmse(download_floats(rows_buffer, n_tokens * cols), expected), kDequantTolerance)
        << type_label(type);
  }
}

TEST_F(BatchKernelTest, RopeRotatesEachTokenAtItsPosition) {
  const uint32_t n_heads = 3, head_dim = 24, n_tokens = 5, pos = 13;
  const float theta = 10000.0f;
  for (bool neox : {false, true})
    for (uint32_t n_rot : {head_dim, 16u}) {
      const uint32_t n = n_heads * head_dim;
      const std::vector<float> x = random_floats(n_tokens * n, 41);
      Buffer x_buffer = upload_floats(x);
      Buffer inputs = upload_inputs(std::vector<uint32_t>(n_tokens, 0), pos);
      Buffer frequencies = upload_floats(rope_inverse_frequencies(n_rot, theta));
      run(pipelines(true), [&](CommandSequence& sequence) {
        encode_rope_batch(sequence, whole(x_buffer), whole(inputs), whole(frequencies),
                          RopeShape{n_heads, head_dim, n_rot, neox}, n_tokens);
      });
      std::vector<float> expected;
      for (uint32_t t = 0; t < n_tokens; ++t) {
        const std::vector<float> row = reference_rope(std::span(x).subspan(t * n, n), n_heads,
                                                      head_dim, n_rot, neox, pos + t, theta);
        expected.insert(expected.end(), row.begin(), row.end());
      }
      EXPECT_LE(nmse(download_floats(x_buffer, x.size()), expected), kRopeTolerance)
          << (neox ? "neox" : "adjacent") << " n_rot " << n_rot;
    }
}

TEST_F(BatchKernelTest, KvStoreWritesTheBatchPositionsOnly) {
  const uint32_t kv_dim = 12, capacity = 16, n_tokens = 3, pos = 4;
  const std::vector<float> k = random_floats(n_tokens * kv_dim, 51);
  const std::vector<float> v = random_floats(n_tokens * kv_dim, 52);
  const std::vector<float> filler(capacity * kv_dim, -7.0f);
  Buffer k_buffer = upload_floats(k);
  Buffer v_buffer = upload_floats(v);
  Buffer keys = upload_floats(filler);
  Buffer values = upload_floats(filler);
  Buffer inputs = upload_inputs(std::vector<uint32_t>(n_tokens, 0), pos);
  run(pipelines(true), [&](CommandSequence& sequence) {
    encode_kv_store_batch(sequence, whole(k_buffer), whole(v_buffer),
                          KvCacheRanges{whole(keys), whole(values), kv_dim, capacity},
                          whole(inputs), n_tokens);
  });
  std::vector<float> expected_keys = filler, expected_values = filler;
  std::copy(k.begin(), k.end(), expected_keys.begin() + pos * kv_dim);
  std::copy(v.begin(), v.end(), expected_values.begin() + pos * kv_dim);
  EXPECT_EQ(download_floats(keys, filler.size()), expected_keys);
  EXPECT_EQ(download_floats(values, filler.size()), expected_values);
}

struct AttentionCase {
  uint32_t n_heads, n_kv_heads, head_dim;
};

TEST_F(BatchKernelTest, AttentionIsCausalOverTheBatchAndTheCache) {
  const uint32_t capacity = 80;
  // A workgroup takes a tile of rows (a KV head's query heads of consecutive tokens; 2 rows per 8
  // invocations: 8 or 4 here) over key tiles of 32 positions, and the 8 invocations of a row pair
  // share its output vec4s. 3 heads per KV head: tiles that start and end within a token; heads of
  // 40 and 12 floats: 10 and 3 vec4s, slices of 2 or 1 and of 1 or none.
  for (AttentionCase shape_case : {AttentionCase{9, 3, 40}, AttentionCase{7, 7, 12},
                                   AttentionCase{4, 1, kBatchAttentionMaxHeadDim}}) {
    const auto [n_heads, n_kv_heads, head_dim] = shape_case;
    const uint32_t kv_dim = n_kv_heads * head_dim;
    const AttentionShape shape{n_heads, n_kv_heads, head_dim, 1.0f / std::sqrt(float(head_dim))};
    // Every cache row is filled, so a read past a query's position would show.
    const std::vector<float> keys = random_floats(capacity * kv_dim, 61);
    const std::vector<float> values = random_floats(capacity * kv_dim, 62);
    Buffer key_buffer = upload_floats(keys);
    Buffer value_buffer = upload_floats(values);
    const KvCacheRanges cache{whole(key_buffer), whole(value_buffer), kv_dim, capacity};
    // 1 query; 21 from position 0 (one key tile); 70 from 0 (three key tiles, the last partial;
    // query tiles across key tiles); 43 from 37: more than a key tile of cache before the batch,
    // up to the cache's end.
    for (auto [n_tokens, pos] :
         {std::pair{1u, 30u}, std::pair{21u, 0u}, std::pair{70u, 0u}, std::pair{43u, 37u}}) {
      const uint32_t n = n_heads * head_dim;
      const std::vector<float> q = random_floats(n_tokens * n, 63 + pos, -2.0f, 2.0f);
      Buffer q_buffer = upload_floats(q);
      Buffer out = make_buffer(q.size() * sizeof(float));
      Buffer inputs = upload_inputs(std::vector<uint32_t>(n_tokens, 0), pos);
      run(pipelines(true), [&](CommandSequence& sequence) {
        encode_attention_batch(sequence, whole(q_buffer), cache, whole(inputs), whole(out), shape,
                               n_tokens);
      });
      std::vector<float> expected;
      for (uint32_t t = 0; t < n_tokens; ++t) {
        const std::vector<float> row =
            reference_attention(std::span(q).subspan(t * n, n), keys, values, n_heads, n_kv_heads,
                                head_dim, pos + t, shape.scale);
        expected.insert(expected.end(), row.begin(), row.end());
      }
      const double error = nmse(download_floats(out, q.size()), expected);
      std::printf("[nmse] batch attention %u/%u heads of %u, %u queries at %u subgroup=%u: %.3g\n",
                  n_heads, n_kv_heads, head_dim, n_tokens, pos, context().info().subgroup_size,
                  error);
      EXPECT_LE(error, kAttentionTolerance)
          << n_heads << "/" << n_kv_heads << " heads, " << n_tokens << " queries at " << pos;
    }
  }
}

}  // namespace
}  // namespace quant::vulkan::test
