// The mat-vec epilogue (MatVecFusions::rope and ::cache, shaders/matvec_epilogue.glsl): a llama
// layer's q/k/v mat-vecs with the RoPE and the KV store folded in, against the same mat-vecs
// followed by the RoPE and KV store kernels, at several positions, with every mat-vec kernel (the
// int8 ones also reading x quantized by the mat-vec before them, as in a plan); and a matrix split
// over dispatches, which the epilogue can follow only at even rows.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "backend/vulkan/kernels.h"
#include "common/error.h"
#include "reference.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

// The fused dispatches compute the same dot products in the same order as the unfused ones; only
// the rotation's rounding (FMA contraction in a different shader) may differ.
constexpr double kFusedTolerance = 1e-12;
constexpr float kTheta = 10000.0f;
constexpr uint64_t kCols = 256;

struct LayerShape {
  uint32_t n_heads, n_kv_heads, head_dim, n_rot;
};

// One token's projections: q and k (rotated), and the caches after the store.
struct Projections {
  std::vector<float> q, k, keys, values;
  uint32_t dispatches = 0;
  std::string matvec_kernel;  // the kernel of the q mat-vec
};

// The producer of a quantized x (kCols rows of Q8_0) before the projections that read it.
constexpr TensorType kProducerType = TensorType::Q8_0;

class MatVecEpilogueTest : public VulkanTest {
 protected:
  // The q/k/v mat-vecs of weights of `type` (the same ones every call) at position `pos`, with the
  // RoPE and the KV store folded into them, or recorded after them by their own kernels. With
  // `prequantized`, they read x quantized by an int8 mat-vec recorded before them.
  Projections project(Pipelines& pipelines, TensorType type, const LayerShape& shape,
                      uint32_t capacity, uint32_t pos, bool fused, bool prequantized = false) {
    const uint64_t q_rows = uint64_t{shape.n_heads} * shape.head_dim;
    const uint32_t kv_dim = shape.n_kv_heads * shape.head_dim;
    auto upload_matrix = [&](uint64_t rows, uint32_t seed) {
      const std::vector<uint8_t> weights = make_weights(type, rows, kCols, seed, false);
      return upload_bytes(device_layout(type, rows, kCols, weights), "weights");
    };
    const Buffer q_weights = upload_matrix(q_rows, 71);
    const Buffer k_weights = upload_matrix(kv_dim, 72);
    const Buffer v_weights = upload_matrix(kv_dim, 73);
    const Buffer input = upload_floats(random_floats(kCols, 74), "input");
    const Buffer produced = make_buffer(kCols * sizeof(float), MemoryRole::Activations, "produced");
    // x: the input itself, or the producer's output (whose quantized form the projections read).
    const Buffer& x = prequantized ? produced : input;
    const Buffer producer_weights =
        upload_bytes(device_layout(kProducerType, kCols, kCols,
                                   make_weights(kProducerType, kCols, kCols, 76, false)),
                     "producer weights");
    const Buffer quantized_x = make_buffer(quantized_activation_bytes(kCols));
    const BufferRange quantized_range = whole(quantized_x);
    const Buffer q = make_buffer(q_rows * sizeof(float), MemoryRole::Activations, "q");
    const Buffer k = make_buffer(kv_dim * sizeof(float), MemoryRole::Activations, "k");
    const Buffer v = make_buffer(kv_dim * sizeof(float), MemoryRole::Activations, "v");
    const std::vector<float> old_cache = random_floats(uint64_t{capacity} * kv_dim, 75);
    const Buffer keys = upload_floats(old_cache, "keys");
    const Buffer values = upload_floats(old_cache, "values");
    const Buffer frequencies = upload_floats(rope_inverse_frequencies(shape.n_rot, kTheta));
    const StepInputs step{0, pos};
    const Buffer step_buffer = make_buffer(sizeof(step));
    transfer().upload(step_buffer, 0, std::as_bytes(std::span(&step, 1)));

    const WeightMatrix wq{&q_weights, 0, type, q_rows, kCols};
    const WeightMatrix wk{&k_weights, 0, type, kv_dim, kCols};
    const WeightMatrix wv{&v_weights, 0, type, kv_dim, kCols};
    const RopeShape q_rope{shape.n_heads, shape.head_dim, shape.n_rot, false};
    const RopeShape k_rope{shape.n_kv_heads, shape.head_dim, shape.n_rot, false};
    const BufferRange step_range = whole(step_buffer);
    const BufferRange frequency_range = whole(frequencies);
    const BufferRange key_range = whole(keys);
    const BufferRange value_range = whole(values);

    CommandSequence sequence(pipelines);
    sequence.begin();
    const BufferRange* x_quantized = nullptr;
    if (prequantized) {
      encode_matvec(sequence, {&producer_weights, 0, kProducerType, kCols, kCols}, whole(input),
                    whole(produced), {.quantize_output = &quantized_range});
      x_quantized = &quantized_range;
    }
    const uint32_t first_projection = sequence.dispatch_count();
    // q, k and v read the same quantized x side by side: the rows of the widest other one.
    const uint64_t beside_q = x_quantized ? kv_dim : 0;
    const uint64_t beside_kv = x_quantized ? std::max<uint64_t>(q_rows, kv_dim) : 0;
    if (fused) {
      encode_matvec(sequence, wq, whole(x), whole(q),
                    {.step = &step_range,
                     .rope = &q_rope,
                     .rope_frequencies = &frequency_range,
                     .quantized_x = x_quantized,
                     .side_by_side_rows = beside_q});
      encode_matvec(sequence, wk, whole(x), whole(k),
                    {.step = &step_range,
                     .rope = &k_rope,
                     .rope_frequencies = &frequency_range,
                     .cache = &key_range,
                     .cache_capacity = capacity,
                     .quantized_x = x_quantized,
                     .side_by_side_rows = beside_kv});
      encode_matvec(sequence, wv, whole(x), whole(v),
                    {.step = &step_range,
                     .cache = &value_range,
                     .cache_capacity = capacity,
                     .quantized_x = x_quantized,
                     .side_by_side_rows = beside_kv});
    } else {
      encode_matvec(sequence, wq, whole(x), whole(q),
                    {.quantized_x = x_quantized, .side_by_side_rows = beside_q});
      encode_matvec(sequence, wk, whole(x), whole(k),
                    {.quantized_x = x_quantized, .side_by_side_rows = beside_kv});
      encode_matvec(sequence, wv, whole(x), whole(v),
                    {.quantized_x = x_quantized, .side_by_side_rows = beside_kv});
      encode_rope(sequence, whole(q), step_range, frequency_range, q_rope);
      encode_rope(sequence, whole(k), step_range, frequency_range, k_rope);
      encode_kv_store(sequence, whole(k), whole(v),
                      KvCacheRanges{key_range, value_range, kv_dim, capacity}, step_range);
    }
    sequence.end();
    sequence.submit_and_wait();
    return {download_floats(q, q_rows),
            download_floats(k, kv_dim),
            download_floats(keys, old_cache.size()),
            download_floats(values, old_cache.size()),
            sequence.dispatch_count(),
            sequence.command_infos()[first_projection].kernel};
  }

  // The fused projections against the unfused ones at `pos`, with the int8 mat-vec kernels or the
  // float ones; every cache row but pos untouched.
  // Returns the fused q mat-vec's kernel.
  std::string expect_same_projections(Pipelines& pipelines, TensorType type,
                                      const LayerShape& shape, uint32_t capacity, uint32_t pos,
                                      bool int8, const std::string& label,
                                      bool prequantized = false) {
    SCOPED_TRACE(label + " pos " + std::to_string(pos));
    const Projections fused = project(pipelines, type, shape, capacity, pos, true, prequantized);
    const Projections unfused = project(pipelines, type, shape, capacity, pos, false, prequantized);
    EXPECT_EQ(fused.matvec_kernel.starts_with("matvec_int8_"), int8) << fused.matvec_kernel;
    const double q_error = nmse(fused.q, unfused.q);
    const double k_error = nmse(fused.k, unfused.k);
    std::printf("[nmse] matvec epilogue %s subgroup=%u pos %u: q %.3g, k %.3g\n", label.c_str(),
                context().info().subgroup_size, pos, q_error, k_error);
    EXPECT_LE(q_error, kFusedTolerance);
    EXPECT_LE(k_error, kFusedTolerance);
    // The RoPEs and the store took no dispatch of their own.
    EXPECT_EQ(fused.dispatches + 3, unfused.dispatches);
    const size_t kv_dim = fused.k.size();
    for (size_t at = 0; at < fused.keys.size(); ++at) {
      const bool current = at / kv_dim == pos;
      // The stored keys are the rotated k the mat-vec wrote; the values, v exactly.
      EXPECT_EQ(fused.keys[at], current ? fused.k[at % kv_dim] : unfused.keys[at]) << at;
      EXPECT_EQ(fused.values[at], unfused.values[at]) << at;
      if (HasFailure()) break;
    }
    return fused.matvec_kernel;
  }
};

// Which mat-vec kernel a case records (all read the same weights): the int8 one reading x as floats
// or quantized by the mat-vec before it, or a float one.
enum class Kernel { Int8, Int8Prequantized, FloatSubgroup, FloatShmem };

struct EpilogueCase {
  TensorType type;
  Kernel kernel;
};

std::string case_name(const ::testing::TestParamInfo<EpilogueCase>& info) {
  const char* kernels[] = {"int8", "int8_prequantized", "subgroup", "shmem"};
  return type_label(info.param.type) + "_" + kernels[static_cast<int>(info.param.kernel)];
}

class MatVecEpilogueKernelTest : public MatVecEpilogueTest,
                                 public ::testing::WithParamInterface<EpilogueCase> {};

TEST_P(MatVecEpilogueKernelTest, RopeAndStoreMatchTheirOwnKernels) {
  const EpilogueCase& param = GetParam();
  const bool int8 = param.kernel == Kernel::Int8 || param.kernel == Kernel::Int8Prequantized;
  if (int8 && !pipelines(true).uses_integer_dot_products())
    GTEST_SKIP() << "the device has no integer dot products";
  Pipelines& chosen = int8                                    ? pipelines(true)
                      : param.kernel == Kernel::FloatSubgroup ? float_matvec_pipelines()
                                                              : pipelines(false);
  // Heads of 64 fully rotated, as the tiny llamas; and heads of 10 rotated in part, whose row
  // counts (60 and 30) leave the last group of 4 rows half empty.
  const uint32_t capacity = 300;
  for (const LayerShape& shape : {LayerShape{4, 2, 64, 64}, LayerShape{6, 3, 10, 6}}) {
    for (uint32_t pos : {0u, 1u, 157u, capacity - 1}) {
      const std::string kernel = expect_same_projections(
          chosen, param.type, shape, capacity, pos, int8,
          case_name({param, 0}) + " head_dim " + std::to_string(shape.head_dim),
          param.kernel == Kernel::Int8Prequantized);
      // Q8_0's rotated rows read quantized come one per subgroup, the pair's across subgroups,
      // in the variant without the SwiGLU pair's registers (q beside k and v).
      if (param.kernel == Kernel::Int8Prequantized && param.type == TensorType::Q8_0) {
        EXPECT_EQ(kernel, "matvec_int8_q8_0_prequantized_one_row_rope_unpaired");
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kernels, MatVecEpilogueKernelTest,
    ::testing::Values(EpilogueCase{TensorType::F16, Kernel::FloatSubgroup},
                      EpilogueCase{TensorType::F16, Kernel::FloatShmem},
                      EpilogueCase{TensorType::Q8_0, Kernel::FloatSubgroup},  // 4 rows a group
                      EpilogueCase{TensorType::Q8_0, Kernel::Int8},
                      EpilogueCase{TensorType::Q8_0, Kernel::Int8Prequantized},
                      EpilogueCase{TensorType::Q4_K, Kernel::FloatSubgroup},
                      EpilogueCase{TensorType::Q4_K, Kernel::FloatShmem},
                      EpilogueCase{TensorType::Q4_K, Kernel::Int8},
                      EpilogueCase{TensorType::Q4_K, Kernel::Int8Prequantized}),
    case_name);

// A matrix split over dispatches (a binding limit of `rows_per_binding` F16 rows of kCols) takes
// the epilogue when every part starts at an even row, and is refused otherwise.
TEST_F(MatVecEpilogueTest, SplitMatrixTakesTheEpilogueAtEvenRowsOnly) {
  const uint64_t row_bytes = kCols * 2;
  const uint64_t alignment = context().info().min_storage_buffer_offset_alignment;
  const LayerShape shape{6, 3, 10, 6};
  const uint32_t capacity = 4;  // the caches must fit one small binding too
  for (uint64_t rows_per_binding : {4u, 3u}) {
    Pipelines small_bindings(
        context(),
        PipelineOptions{.max_binding_bytes = rows_per_binding * row_bytes + alignment + 4});
    const Buffer weights = make_buffer(30 * row_bytes, MemoryRole::Weights, "weights");
    const WeightMatrix matrix{&weights, 0, TensorType::F16, 30, kCols};
    const bool even = rows_per_binding % 2 == 0;
    EXPECT_EQ(matvec_epilogue_fits(small_bindings, matrix), even) << rows_per_binding;
    if (even) {
      expect_same_projections(small_bindings, TensorType::F16, shape, capacity, 3, false,
                              "F16 split in 4 rows");
      continue;
    }
    EXPECT_THROW(project(small_bindings, TensorType::F16, shape, capacity, 3, true), Error);
  }
}

}  // namespace
}  // namespace quant::vulkan::test
