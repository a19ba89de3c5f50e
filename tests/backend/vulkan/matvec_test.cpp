// Mat-vec and embedding lookup for every weight type against the scalar reference, with weights
// quantized by the reference quantizer and with random bits, with both reductions, at sizes that
// are not multiples of any workgroup width.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <tuple>

#include "backend/vulkan/kernels.h"
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
  Buffer weight_buffer = upload_bytes(weights, "weights");
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
  Buffer table_buffer = upload_bytes(table, "table");
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
// bound at an aligned offset; the matrix itself starts at an unaligned offset inside its buffer.
class SplitBindingTest : public VulkanTest {};

TEST_F(SplitBindingTest, MatVecAndEmbedAcrossBindings) {
  Pipelines small_bindings(context(), PipelineOptions{.max_binding_bytes = 1024});
  for (TensorType type : {TensorType::Q4_0, TensorType::F16, TensorType::Q6_K}) {
    const uint64_t rows = 41;
    const uint64_t cols = type == TensorType::Q6_K ? 256 : test_cols(type);
    const uint64_t offset = 18;  // a Q4_0 block: 2-byte aligned, not 16
    std::vector<uint8_t> weights = make_weights(type, rows, cols, 31, false);
    Buffer buffer = make_buffer(offset + weights.size(), MemoryRole::Weights, "offset weights");
    transfer().upload(buffer, offset, std::as_bytes(std::span(weights)));
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

}  // namespace
}  // namespace quant::vulkan::test
