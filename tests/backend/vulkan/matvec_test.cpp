// Mat-vec and embedding lookup for every weight type against the scalar reference, with weights
// quantized by the reference quantizer and with random bits, with both reductions, at sizes that
// are not multiples of any workgroup width (nor of the rows one workgroup computes); and the
// mat-vec's fusions (input RMS norm, residual accumulation, SwiGLU pair).

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <tuple>

#include "backend/cpu/matmul.h"
#include "backend/vulkan/kernels.h"
#include "backend/vulkan/weight_layout.h"
#include "reference.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

constexpr double kMatVecTolerance = 5e-4;
constexpr double kDequantTolerance = 1e-8;  // the same decoding; only FMA contraction may differ

// Which mat-vec kernels a case records: the int8 ones (matvec_int8.comp, with integer dot products,
// for the types the CPU multiplies with int8 activations), or the float ones (matvec.comp) with
// subgroup or shared-memory reductions.
enum class MatVecKernel { Int8, FloatSubgroup, FloatShmem };

// The types the CPU multiplies with int8 activations, as the int8 kernels do.
bool int8_type(TensorType type) {
  const std::optional<cpu::ActivationFormat> format = cpu::activation_format(type);
  return format && *format != cpu::ActivationFormat::F32;
}

std::string kernel_label(MatVecKernel kernel) {
  switch (kernel) {
    case MatVecKernel::Int8:
      return "int8";
    case MatVecKernel::FloatSubgroup:
      return "subgroup";
    case MatVecKernel::FloatShmem:
      return "shmem";
  }
  return "";
}

std::vector<MatVecKernel> kernels_for(TensorType type) {
  std::vector<MatVecKernel> kernels = {MatVecKernel::FloatSubgroup, MatVecKernel::FloatShmem};
  if (int8_type(type)) kernels.push_back(MatVecKernel::Int8);
  return kernels;
}

// Rows the int8 kernels take are a multiple of 64 elements (two x blocks per chunk).
uint64_t kernel_test_cols(TensorType type, MatVecKernel kernel) {
  return kernel == MatVecKernel::Int8 && type_traits(type).block_elements == 32 ? 320
                                                                                : test_cols(type);
}

// The int8 kernels compute W times x quantized as the CPU quantizes it (int8_quantized), up to
// float rounding (and the rare level it moves across a rounding tie); any decoding error is orders
// of magnitude above this.
constexpr double kInt8Tolerance = 1e-6;

class MatVecKernelTest : public VulkanTest {
 protected:
  // Skips (true) when the device cannot run the int8 kernels.
  bool unavailable(MatVecKernel kernel) {
    return kernel == MatVecKernel::Int8 && !pipelines(true).uses_integer_dot_products();
  }
  Pipelines& kernel_pipelines(MatVecKernel kernel) {
    if (kernel == MatVecKernel::FloatShmem) return pipelines(false);
    return kernel == MatVecKernel::Int8 ? pipelines(true) : float_matvec_pipelines();
  }
  // The x the kernel multiplies `type` by: quantized for the int8 kernels.
  static std::vector<float> kernel_input(MatVecKernel kernel, TensorType type,
                                         std::span<const float> x) {
    if (kernel == MatVecKernel::Int8) return int8_quantized(type, x);
    return {x.begin(), x.end()};
  }
  static double tolerance(MatVecKernel kernel) {
    return kernel == MatVecKernel::Int8 ? kInt8Tolerance : kMatVecTolerance;
  }
  // Every dispatch recorded so far used the kernel family the case asks for.
  static void expect_kernels(const CommandSequence& sequence, MatVecKernel kernel) {
    for (const CommandInfo& info : sequence.command_infos())
      EXPECT_EQ(info.kernel.starts_with("matvec_int8_"), kernel == MatVecKernel::Int8)
          << info.kernel;
  }
};

struct MatVecCase {
  TensorType type;
  bool random_bits;
  MatVecKernel kernel;
};

std::string case_name(const ::testing::TestParamInfo<MatVecCase>& info) {
  return type_label(info.param.type) + (info.param.random_bits ? "_random_bits" : "_quantized") +
         "_" + kernel_label(info.param.kernel);
}

std::vector<MatVecCase> matvec_cases() {
  std::vector<MatVecCase> cases;
  for (TensorType type : kWeightTypes)
    for (bool random_bits : {false, true})
      for (MatVecKernel kernel : kernels_for(type))
        if (!random_bits || type_traits(type).quantized)
          cases.push_back({type, random_bits, kernel});
  return cases;
}

class MatVecTest : public MatVecKernelTest, public ::testing::WithParamInterface<MatVecCase> {};

TEST_P(MatVecTest, MatchesReference) {
  const MatVecCase& param = GetParam();
  if (unavailable(param.kernel)) GTEST_SKIP() << "the device has no integer dot products";
  const uint64_t rows = 37;
  const uint64_t cols = kernel_test_cols(param.type, param.kernel);
  std::vector<uint8_t> weights = make_weights(param.type, rows, cols, 11, param.random_bits);
  std::vector<float> x = random_floats(cols, 12);
  Buffer weight_buffer = upload_bytes(device_layout(param.type, rows, cols, weights), "weights");
  Buffer x_buffer = upload_floats(x, "x");
  Buffer y_buffer = make_buffer(rows * sizeof(float), MemoryRole::Activations, "y");

  CommandSequence sequence(kernel_pipelines(param.kernel));
  sequence.begin();
  encode_matvec(sequence, {&weight_buffer, 0, param.type, rows, cols}, whole(x_buffer),
                whole(y_buffer));
  sequence.end();
  sequence.submit_and_wait();
  expect_kernels(sequence, param.kernel);

  std::vector<float> actual = download_floats(y_buffer, rows);
  double error = nmse(actual, reference_matvec(param.type, weights, rows, cols,
                                               kernel_input(param.kernel, param.type, x)));
  double float_error = nmse(actual, reference_matvec(param.type, weights, rows, cols, x));
  std::printf("[nmse] matvec %s %s subgroup=%u %s: %.3g (against float x: %.3g)\n",
              type_label(param.type).c_str(), param.random_bits ? "random-bits" : "quantized",
              context().info().subgroup_size, kernel_label(param.kernel).c_str(), error,
              float_error);
  EXPECT_LE(error, tolerance(param.kernel));
  EXPECT_LE(float_error, kMatVecTolerance);
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

INSTANTIATE_TEST_SUITE_P(AllTypes, EmbedTest, ::testing::ValuesIn(kWeightTypes), type_case_name);

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
  MatVecKernel kernel;
};

class MatVecFusionTest : public MatVecKernelTest,
                         public ::testing::WithParamInterface<FusionCase> {};

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
  if (unavailable(param.kernel)) GTEST_SKIP() << "the device has no integer dot products";
  const uint64_t rows = 29;
  const uint64_t cols = type_traits(param.type).block_elements == 256 ? 512 : 192;
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
  ASSERT_TRUE(swiglu_pair_fits(kernel_pipelines(param.kernel), gate_matrix, up_matrix));

  CommandSequence sequence(kernel_pipelines(param.kernel));
  sequence.begin();
  encode_matvec(sequence, gate_matrix, whole(x_buffer), whole(accumulated),
                {.norm_weight = &norm_range, .norm_eps = eps, .accumulate = true});
  encode_matvec(sequence, gate_matrix, whole(x_buffer), whole(swiglu_out),
                {.norm_weight = &norm_range, .norm_eps = eps, .swiglu_up = &up_matrix});
  sequence.end();
  sequence.submit_and_wait();
  expect_kernels(sequence, param.kernel);

  const std::vector<float> normed =
      kernel_input(param.kernel, param.type, rms_normalized(x, norm_weight, eps));
  const std::vector<float> gate_y = reference_matvec(param.type, gate, rows, cols, normed);
  const std::vector<float> up_y = reference_matvec(param.type, up, rows, cols, normed);
  std::vector<float> expected_accumulated(rows);
  for (uint64_t r = 0; r < rows; ++r) expected_accumulated[r] = residual[r] + gate_y[r];
  const std::vector<float> expected_swiglu = reference_swiglu(gate_y, up_y);
  const double accumulate_error = nmse(download_floats(accumulated, rows), expected_accumulated);
  const double swiglu_error = nmse(download_floats(swiglu_out, rows), expected_swiglu);
  std::printf("[nmse] fused %s %s: norm+accumulate %.3g, norm+swiglu %.3g\n",
              type_label(param.type).c_str(), kernel_label(param.kernel).c_str(), accumulate_error,
              swiglu_error);
  EXPECT_LE(accumulate_error, tolerance(param.kernel));
  EXPECT_LE(swiglu_error, tolerance(param.kernel));
}

std::vector<FusionCase> fusion_cases() {
  std::vector<FusionCase> cases;
  for (TensorType type :
       {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::Q4_0, TensorType::F32})
    for (MatVecKernel kernel : kernels_for(type)) cases.push_back({type, kernel});
  return cases;
}

std::string fusion_case_name(const ::testing::TestParamInfo<FusionCase>& info) {
  return type_label(info.param.type) + "_" + kernel_label(info.param.kernel);
}

INSTANTIATE_TEST_SUITE_P(Types, MatVecFusionTest, ::testing::ValuesIn(fusion_cases()),
                         fusion_case_name);

// Shapes the int8 kernels treat apart. A matrix tall enough that each int8 workgroup takes several
// passes of rows (kernels.cpp aims at
// 512 workgroups; a pass is 16 rows on every device: 8 subgroups of 2 rows), with a last workgroup
// whose rows run out part way.
class Int8PassesTest : public MatVecKernelTest {
 protected:
  // NMSE of the int8 mat-vec of a random rows x cols matrix against the reference.
  double int8_error(TensorType type, uint64_t rows, uint64_t cols, uint32_t seed) {
    std::vector<uint8_t> weights = make_weights(type, rows, cols, seed, true);
    std::vector<float> x = random_floats(cols, seed + 1);
    Buffer weight_buffer = upload_bytes(device_layout(type, rows, cols, weights), "weights");
    Buffer x_buffer = upload_floats(x, "x");
    Buffer y_buffer = make_buffer(rows * sizeof(float), MemoryRole::Activations, "y");
    CommandSequence sequence(pipelines(true));
    sequence.begin();
    encode_matvec(sequence, {&weight_buffer, 0, type, rows, cols}, whole(x_buffer),
                  whole(y_buffer));
    sequence.end();
    sequence.submit_and_wait();
    expect_kernels(sequence, MatVecKernel::Int8);
    return nmse(download_floats(y_buffer, rows),
                reference_matvec(type, weights, rows, cols, int8_quantized(type, x)));
  }
};

TEST_F(Int8PassesTest, TallMatrixMatchesReference) {
  if (unavailable(MatVecKernel::Int8)) GTEST_SKIP() << "the device has no integer dot products";
  const uint64_t rows = 2 * 16 * 512 + 21;
  const double error = int8_error(TensorType::Q8_0, rows, 64, 51);
  std::printf("[nmse] int8 matvec over several passes (%llu rows): %.3g\n",
              static_cast<unsigned long long>(rows), error);
  EXPECT_LE(error, kInt8Tolerance);
}

// Long rows take a subgroup several steps (132 chunks: 5 steps of 32, the last part empty, on the
// H200; 17 of 8 and 33 of 4 on lavapipe), and their x is staged in several rounds.
TEST_F(Int8PassesTest, LongRowsMatchReference) {
  if (unavailable(MatVecKernel::Int8)) GTEST_SKIP() << "the device has no integer dot products";
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::Q4_1}) {
    const double error = int8_error(type, 19, 8448, 61);
    std::printf("[nmse] int8 matvec %s, rows of 8448: %.3g\n", type_label(type).c_str(), error);
    EXPECT_LE(error, kInt8Tolerance) << type_label(type);
  }
}

}  // namespace
}  // namespace quant::vulkan::test
