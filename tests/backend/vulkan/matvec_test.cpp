// Mat-vec and embedding lookup for every weight type against the scalar reference, with weights
// quantized by the reference quantizer and with random bits, with both reductions, at sizes that
// are not multiples of any workgroup width (nor of the rows one workgroup computes); and the
// mat-vec's fusions (input RMS norm, residual accumulation, SwiGLU pair).

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>

#include "backend/vulkan/kernels.h"
#include "backend/vulkan/weight_layout.h"
#include "reference.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

constexpr double kMatVecTolerance = 5e-4;
constexpr double kDequantTolerance = 1e-8;  // the same decoding; only FMA contraction may differ

const TensorType kTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
                             TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                             TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

// Row lengths: odd for the plain types, 5 legacy blocks, 3 super-blocks.
uint64_t test_cols(TensorType type) {
  const int64_t block = type_traits(type).block_elements;
  return block == 1 ? 97 : block == 32 ? 160 : 768;
}

std::string type_label(TensorType type) {
  return std::string(type_traits(type).name);
}

// The matrix in the device layout (weight_layout.h), as the backend uploads it.
std::vector<uint8_t> device_layout(TensorType type, uint64_t rows, uint64_t cols,
                                   std::span<const uint8_t> gguf_rows) {
  std::vector<uint8_t> out(rows * device_row_bytes(type, cols));
  to_device_layout(type, cols, rows, gguf_rows, out);
  return out;
}

struct MatVecCase {
  TensorType type;
  bool random_bits;
  bool subgroup_arithmetic;
};

std::string case_name(const ::testing::TestParamInfo<MatVecCase>& info) {
  return type_label(info.param.type) + (info.param.random_bits ? "_random_bits" : "_quantized") +
         (info.param.subgroup_arithmetic ? "_subgroup" : "_shmem");
}

std::vector<MatVecCase> matvec_cases() {
  std::vector<MatVecCase> cases;
  for (TensorType type : kTypes)
    for (bool random_bits : {false, true})
      for (bool subgroup : {true, false})
        if (!random_bits || type_traits(type).quantized)
          cases.push_back({type, random_bits, subgroup});
  return cases;
}

class MatVecTest : public VulkanTest, public ::testing::WithParamInterface<MatVecCase> {};

TEST_P(MatVecTest, MatchesReference) {
  const MatVecCase& param = GetParam();
  const uint64_t rows = 37;
  const uint64_t cols = test_cols(param.type);
  std::vector<uint8_t> weights = make_weights(param.type, rows, cols, 11, param.random_bits);
  std::vector<float> x = random_floats(cols, 12);
  Buffer weight_buffer = upload_bytes(device_layout(param.type, rows, cols, weights), "weights");
  Buffer x_buffer = upload_floats(x, "x");
  Buffer y_buffer = make_buffer(rows * sizeof(float), MemoryRole::Activations, "y");

  CommandSequence sequence(pipelines(param.subgroup_arithmetic));
  sequence.begin();
  encode_matvec(sequence, {&weight_buffer, 0, param.type, rows, cols}, whole(x_buffer),
                whole(y_buffer));
  sequence.end();
  sequence.submit_and_wait();

  std::vector<float> expected = reference_matvec(param.type, weights, rows, cols, x);
  std::vector<float> actual = download_floats(y_buffer, rows);
  double error = nmse(actual, expected);
  std::printf("[nmse] matvec %s %s subgroup=%u %s: %.3g\n", type_label(param.type).c_str(),
              param.random_bits ? "random-bits" : "quantized", context().info().subgroup_size,
              param.subgroup_arithmetic ? "subgroup-reduce" : "shmem-reduce", error);
  EXPECT_LE(error, kMatVecTolerance);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatVecTest, ::testing::ValuesIn(matvec_cases()), case_name);

class EmbedTest : public VulkanTest, public ::testing::WithParamInterface<TensorType> {};

TEST_P(EmbedTest, ReturnsTheTokensRow) {
  const TensorType type = GetParam();
  const uint64_t rows = 23;
  const uint64_t cols = test_cols(type);
  const uint32_t token = 17;
  std::vector<uint8_t> table = make_weights(type, rows, cols, 21, type_traits(type).quantized);
  Buffer table_buffer = upload_bytes(device_layout(type, rows, cols, table), "table");
  StepInputs step{token, 0};
  Buffer step_buffer = make_buffer(sizeof(step));
  transfer().upload(step_buffer, 0, std::as_bytes(std::span(&step, 1)));
  Buffer out = make_buffer(cols * sizeof(float));

  CommandSequence sequence(pipelines(true));
  sequence.begin();
  encode_embed(sequence, {&table_buffer, 0, type, rows, cols}, whole(step_buffer), whole(out));
  sequence.end();
  sequence.submit_and_wait();

  std::vector<float> expected = reference_row(type, table, cols, token);
  double error = nmse(download_floats(out, cols), expected);
  std::printf("[nmse] embed %s subgroup=%u: %.3g\n", type_label(type).c_str(),
              context().info().subgroup_size, error);
  EXPECT_LE(error, kDequantTolerance);
}

std::string type_case_name(const ::testing::TestParamInfo<TensorType>& info) {
  return type_label(info.param);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, EmbedTest, ::testing::ValuesIn(kTypes), type_case_name);

// A weight matrix larger than one binding may cover is split by rows over several dispatches, each
// bound at an aligned offset; the matrix itself starts at an offset inside its buffer that is a
// multiple of 16 but not of the binding alignment.
class SplitBindingTest : public VulkanTest {};

TEST_F(SplitBindingTest, MatVecAndEmbedAcrossBindings) {
  Pipelines small_bindings(context(), PipelineOptions{.max_binding_bytes = 1024});
  for (TensorType type :
       {TensorType::Q4_0, TensorType::F16, TensorType::Q6_K, TensorType::Q8_0, TensorType::Q4_K}) {
    const uint64_t rows = 41;
    const uint64_t cols = type_traits(type).block_elements == 256 ? 256 : test_cols(type);
    const uint64_t offset = 16 * (context().info().min_storage_buffer_offset_alignment / 16 + 1);
    std::vector<uint8_t> weights = make_weights(type, rows, cols, 31, false);
    std::vector<uint8_t> device = device_layout(type, rows, cols, weights);
    Buffer buffer = make_buffer(offset + device.size(), MemoryRole::Weights, "offset weights");
    transfer().upload(buffer, offset, std::as_bytes(std::span(device)));
    std::vector<float> x = random_floats(cols, 32);
    Buffer x_buffer = upload_floats(x);
    Buffer y_buffer = make_buffer(rows * sizeof(float));
    StepInputs step{static_cast<uint32_t>(rows - 2), 0};  // a row in the last binding
    Buffer step_buffer = make_buffer(sizeof(step));
    transfer().upload(step_buffer, 0, std::as_bytes(std::span(&step, 1)));
    Buffer row_buffer = make_buffer(cols * sizeof(float));

    CommandSequence sequence(small_bindings);
    sequence.begin();
    const WeightMatrix matrix{&buffer, offset, type, rows, cols};
    encode_matvec(sequence, matrix, whole(x_buffer), whole(y_buffer));
    const uint32_t matvec_dispatches = sequence.dispatch_count();
    encode_embed(sequence, matrix, whole(step_buffer), whole(row_buffer));
    sequence.end();
    sequence.submit_and_wait();

    EXPECT_GT(matvec_dispatches, 2u) << type_label(type);
    EXPECT_LE(nmse(download_floats(y_buffer, rows), reference_matvec(type, weights, rows, cols, x)),
              kMatVecTolerance)
        << type_label(type);
    EXPECT_LE(
        nmse(download_floats(row_buffer, cols), reference_row(type, weights, cols, step.token)),
        kDequantTolerance)
        << type_label(type);
  }
}

// The fusions against the same computation done op by op on the CPU: y = residual + W (norm(x) *
// g) / silu(W norm(x)) * (V norm(x)).
struct FusionCase {
  TensorType type;
  bool subgroup_arithmetic;
};

class MatVecFusionTest : public VulkanTest, public ::testing::WithParamInterface<FusionCase> {};

std::vector<float> rms_normalized(std::span<const float> x, std::span<const float> weight,
                                  float eps) {
  double sum_squares = 0.0;
  for (float v : x) sum_squares += static_cast<double>(v) * v;
  const double scale = 1.0 / std::sqrt(sum_squares / static_cast<double>(x.size()) + eps);
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>(x[i] * scale * weight[i]);
  return out;
}

TEST_P(MatVecFusionTest, NormAccumulateAndSwigluMatchOpByOp) {
  const FusionCase& param = GetParam();
  const uint64_t rows = 29;
  const uint64_t cols = type_traits(param.type).block_elements == 256 ? 512 : 160;
  const float eps = 1e-5f;
  std::vector<uint8_t> gate =
      make_weights(param.type, rows, cols, 41, type_traits(param.type).quantized);
  std::vector<uint8_t> up =
      make_weights(param.type, rows, cols, 42, type_traits(param.type).quantized);
  std::vector<float> x = random_floats(cols, 43, -2.0f, 2.0f);
  std::vector<float> norm_weight = random_floats(cols, 44, 0.5f, 1.5f);
  std::vector<float> residual = random_floats(rows, 45);

  // Gate and up back to back, as the plan compiler uploads a folded pair.
  std::vector<uint8_t> pair = device_layout(param.type, rows, cols, gate);
  std::vector<uint8_t> up_device = device_layout(param.type, rows, cols, up);
  const uint64_t up_offset = pair.size();
  pair.insert(pair.end(), up_device.begin(), up_device.end());
  Buffer weights = upload_bytes(pair, "gate + up");
  Buffer x_buffer = upload_floats(x, "x");
  Buffer norm_buffer = upload_floats(norm_weight, "norm weight");
  Buffer accumulated = upload_floats(residual, "residual");
  Buffer swiglu_out = make_buffer(rows * sizeof(float));
  const BufferRange norm_range = whole(norm_buffer);
  const WeightMatrix gate_matrix{&weights, 0, param.type, rows, cols};
  const WeightMatrix up_matrix{&weights, up_offset, param.type, rows, cols};
  ASSERT_TRUE(swiglu_pair_fits(pipelines(param.subgroup_arithmetic), gate_matrix, up_matrix));

  CommandSequence sequence(pipelines(param.subgroup_arithmetic));
  sequence.begin();
  encode_matvec(sequence, gate_matrix, whole(x_buffer), whole(accumulated),
                {.norm_weight = &norm_range, .norm_eps = eps, .accumulate = true});
  encode_matvec(sequence, gate_matrix, whole(x_buffer), whole(swiglu_out),
                {.norm_weight = &norm_range, .norm_eps = eps, .swiglu_up = &up_matrix});
  sequence.end();
  sequence.submit_and_wait();

  const std::vector<float> normed = rms_normalized(x, norm_weight, eps);
  const std::vector<float> gate_y = reference_matvec(param.type, gate, rows, cols, normed);
  const std::vector<float> up_y = reference_matvec(param.type, up, rows, cols, normed);
  std::vector<float> expected_accumulated(rows), expected_swiglu(rows);
  for (uint64_t r = 0; r < rows; ++r) {
    expected_accumulated[r] = residual[r] + gate_y[r];
    expected_swiglu[r] = gate_y[r] / (1.0f + std::exp(-gate_y[r])) * up_y[r];
  }
  const double accumulate_error = nmse(download_floats(accumulated, rows), expected_accumulated);
  const double swiglu_error = nmse(download_floats(swiglu_out, rows), expected_swiglu);
  std::printf("[nmse] fused %s: norm+accumulate %.3g, norm+swiglu %.3g\n",
              type_label(param.type).c_str(), accumulate_error, swiglu_error);
  EXPECT_LE(accumulate_error, kMatVecTolerance);
  EXPECT_LE(swiglu_error, kMatVecTolerance);
}

std::vector<FusionCase> fusion_cases() {
  std::vector<FusionCase> cases;
  for (TensorType type :
       {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::Q4_0, TensorType::F32})
    for (bool subgroup : {true, false}) cases.push_back({type, subgroup});
  return cases;
}

std::string fusion_case_name(const ::testing::TestParamInfo<FusionCase>& info) {
  return type_label(info.param.type) + (info.param.subgroup_arithmetic ? "_subgroup" : "_shmem");
}

INSTANTIATE_TEST_SUITE_P(Types, MatVecFusionTest, ::testing::ValuesIn(fusion_cases()),
                         fusion_case_name);

}  // namespace
}  // namespace quant::vulkan::test
