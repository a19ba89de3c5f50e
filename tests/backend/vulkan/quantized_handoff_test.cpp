// The quantized handoff between int8 mat-vecs (kernels.h: MatVecFusions::quantize_output and
// quantized_x; shaders/quantized_activations.glsl): a producer recorded with its consumers in one
// command sequence, checked link by link against the CPU. The producer's float output against the
// reference mat-vec; its quantized output against the format applied on the CPU to that float
// output (so that a wrong level, scale or sum of squares shows up where it is, not only through the
// consumers); and each consumer against the reference mat-vec of the vector that quantized output
// stands for.

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "backend/vulkan/kernels.h"
#include "backend/vulkan/pipelines.h"
#include "reference.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

// Values per scale (QUANTIZED_GROUP in shaders/quantized_activations.glsl).
constexpr uint64_t kGroup = 16;
constexpr float kNormEps = 1e-5f;
// The int8 kernels against the reference of what they multiply (as in matvec_test.cpp).
constexpr double kInt8Tolerance = 1e-6;
// The whole handoff against the same ops in float: the quantization to 8 bits is the only loss.
constexpr double kFloatTolerance = 5e-4;
// Scales (one division) and sums of squares (16 float additions) against their CPU values.
constexpr double kWordTolerance = 1e-6;
// An embedded row against the reference dequantization (the same float operations).
constexpr double kRowTolerance = 1e-12;

// What the producer's dispatch writes before it quantizes it: W x, residual + W x (ACCUMULATE), or
// silu(W x) * (V x) (SWIGLU_PAIR).
// The suffix of the int8 kernel that takes a SwiGLU pair: the K-quants have variants of their own.
std::string pair_suffix(TensorType type) {
  return type_traits(type).block_elements == 256 ? "_pair" : "";
}

enum class ProducerForm { Plain, Accumulate, Swiglu };

std::string form_label(ProducerForm form) {
  switch (form) {
    case ProducerForm::Plain:
      return "plain";
    case ProducerForm::Accumulate:
      return "accumulate";
    case ProducerForm::Swiglu:
      return "swiglu";
  }
  return "";
}

// A vector quantized in the handoff format, decoded.
struct QuantizedVector {
  std::vector<int> levels;
  std::vector<float> scales;
  std::vector<float> sum_squares;
};

// The 16-byte slot of group g's levels: groups transposed in fours (quantized_group_slot).
uint64_t group_slot(uint64_t g, uint64_t n) {
  const uint64_t fours = n / (4 * kGroup);
  return g < 4 * fours ? (g % 4) * fours + g / 4 : g;
}

QuantizedVector decode(std::span<const uint32_t> words, uint64_t n) {
  QuantizedVector decoded;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t word = 4 * group_slot(i / kGroup, n) + (i % kGroup) / 4;
    decoded.levels.push_back(static_cast<int8_t>(words[word] >> (8 * (i % 4))));
  }
  for (uint64_t g = 0; g < n / kGroup; ++g) {
    decoded.scales.push_back(std::bit_cast<float>(words[n / 4 + g]));
    decoded.sum_squares.push_back(std::bit_cast<float>(words[n / 4 + n / kGroup + g]));
  }
  return decoded;
}

// The format applied to y on the CPU, with the float operations the producer does: per group of
// 16, w = y * next norm weight, levels roundEven(w * (127 / max|w|)) saturated, scale max|w| / 127,
// and the sum of y^2 (in double: the reference).
QuantizedVector quantize_like_producer(std::span<const float> y,
                                       std::span<const float> next_norm_weight) {
  QuantizedVector quantized;
  for (uint64_t first = 0; first < y.size(); first += kGroup) {
    float amax = 0.0f;
    double sum_squares = 0.0;
    for (uint64_t i = first; i < first + kGroup; ++i) {
      amax = std::max(amax, std::abs(y[i] * next_norm_weight[i]));
      sum_squares += static_cast<double>(y[i]) * y[i];
    }
    const float inverse_scale = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (uint64_t i = first; i < first + kGroup; ++i) {
      const float level = std::nearbyint(y[i] * next_norm_weight[i] * inverse_scale);
      quantized.levels.push_back(static_cast<int>(std::clamp(level, -128.0f, 127.0f)));
    }
    quantized.scales.push_back(amax / 127.0f);
    quantized.sum_squares.push_back(static_cast<float>(sum_squares));
  }
  return quantized;
}

// The vector a consumer multiplies its rows by: levels * scale, times the RMS scale of the
// producer's raw values with a norm (whose weights are in the levels already).
std::vector<float> dequantize(const QuantizedVector& quantized, bool normed) {
  const uint64_t n = quantized.levels.size();
  double rms_scale = 1.0;
  if (normed) {
    double sum_squares = 0.0;
    for (float group_sum : quantized.sum_squares) sum_squares += group_sum;
    rms_scale = 1.0 / std::sqrt(sum_squares / static_cast<double>(n) + kNormEps);
  }
  std::vector<float> values(n);
  for (uint64_t i = 0; i < n; ++i)
    values[i] = static_cast<float>(quantized.levels[i] *
                                   static_cast<double>(quantized.scales[i / kGroup]) * rms_scale);
  return values;
}

std::vector<float> rms_normalized(std::span<const float> x, std::span<const float> weight) {
  double sum_squares = 0.0;
  for (float v : x) sum_squares += static_cast<double>(v) * v;
  const double scale = 1.0 / std::sqrt(sum_squares / static_cast<double>(x.size()) + kNormEps);
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>(x[i] * scale * weight[i]);
  return out;
}

// Within kWordTolerance of `expected`, relatively (false for a NaN).
bool close_word(float actual, float expected) {
  const double scale = std::max(std::abs(static_cast<double>(expected)), 1e-30);
  return std::abs(static_cast<double>(actual) - expected) / scale <= kWordTolerance;
}

// One producer and the consumers that read its quantized output.
struct HandoffShape {
  TensorType producer_type;
  ProducerForm form;
  bool next_norm;
  uint64_t rows;  // the producer's, and the consumers' cols
  uint64_t cols;  // the producer's
  std::vector<TensorType> consumer_types;
  uint64_t consumer_rows;
};

class QuantizedHandoffTest : public VulkanTest {
 protected:
  bool unavailable() { return !pipelines(true).uses_integer_dot_products(); }

  // A buffer filled with bits no producer writes: a word it leaves unwritten decodes as a NaN scale
  // or sum of squares.
  Buffer make_quantized_buffer(uint64_t n) {
    return upload_bytes(std::vector<uint8_t>(quantized_activation_bytes(n), 0xff), "quantized");
  }

  QuantizedVector download_quantized(const Buffer& buffer, uint64_t n) {
    const std::vector<float> words_as_floats =
        download_floats(buffer, quantized_activation_bytes(n) / sizeof(float));
    std::vector<uint32_t> words(words_as_floats.size());
    std::transform(words_as_floats.begin(), words_as_floats.end(), words.begin(),
                   [](float word) { return std::bit_cast<uint32_t>(word); });
    return decode(words, n);
  }

  // `actual` is y quantized with these next norm weights; returns how many levels match exactly.
  // Reports the first mismatch of each kind (a broken kernel mismatches thousands).
  static uint64_t expect_quantized(const QuantizedVector& actual, std::span<const float> y,
                                   std::span<const float> next_norm_weight) {
    const QuantizedVector expected = quantize_like_producer(y, next_norm_weight);
    uint64_t exact_levels = 0;
    for (uint64_t i = 0; i < y.size(); ++i) {
      exact_levels += actual.levels[i] == expected.levels[i];
      // A level may land on the other side of a rounding tie (the device may round 127 / max|w|
      // differently), never further.
      if (std::abs(actual.levels[i] - expected.levels[i]) > 1) {
        ADD_FAILURE() << "level " << i << ": " << actual.levels[i] << " vs " << expected.levels[i];
        break;
      }
    }
    EXPECT_GE(exact_levels, y.size() * 99 / 100);
    for (uint64_t g = 0; g < y.size() / kGroup; ++g) {
      if (!close_word(actual.scales[g], expected.scales[g])) {
        ADD_FAILURE() << "scale " << g << ": " << actual.scales[g] << " vs " << expected.scales[g];
        break;
      }
    }
    for (uint64_t g = 0; g < y.size() / kGroup; ++g) {
      if (!close_word(actual.sum_squares[g], expected.sum_squares[g])) {
        ADD_FAILURE() << "sum of squares " << g << ": " << actual.sum_squares[g] << " vs "
                      << expected.sum_squares[g];
        break;
      }
    }
    return exact_levels;
  }

  void check_handoff(const HandoffShape& shape, uint32_t seed) {
    const TensorType type = shape.producer_type;
    const uint64_t rows = shape.rows, cols = shape.cols;
    const bool swiglu = shape.form == ProducerForm::Swiglu;
    const std::vector<uint8_t> gate = make_weights(type, rows, cols, seed, false);
    const std::vector<uint8_t> up =
        swiglu ? make_weights(type, rows, cols, seed + 1, false) : std::vector<uint8_t>{};
    const std::vector<float> x = random_floats(cols, seed + 2);
    const std::vector<float> residual = random_floats(rows, seed + 3);
    const std::vector<float> next_norm_weight = shape.next_norm
                                                    ? random_floats(rows, seed + 4, 0.5f, 1.5f)
                                                    : std::vector<float>(rows, 1.0f);

    // Gate and up back to back, as the plan compiler uploads a folded pair.
    std::vector<uint8_t> device_weights = device_layout(type, rows, cols, gate);
    const uint64_t up_offset = device_weights.size();
    if (swiglu) {
      const std::vector<uint8_t> up_device = device_layout(type, rows, cols, up);
      device_weights.insert(device_weights.end(), up_device.begin(), up_device.end());
    }
    Buffer weight_buffer = upload_bytes(device_weights, "producer weights");
    Buffer x_buffer = upload_floats(x, "x");
    Buffer y_buffer = shape.form == ProducerForm::Accumulate
                          ? upload_floats(residual, "residual")
                          : make_buffer(rows * sizeof(float), MemoryRole::Activations, "y");
    Buffer norm_buffer = upload_floats(next_norm_weight, "next norm weight");
    Buffer quantized_buffer = make_quantized_buffer(rows);
    const BufferRange quantized_range = whole(quantized_buffer);
    const BufferRange norm_range = whole(norm_buffer);
    const WeightMatrix producer{&weight_buffer, 0, type, rows, cols};
    const WeightMatrix up_matrix{&weight_buffer, up_offset, type, rows, cols};
    ASSERT_TRUE(matvec_quantizes_output(pipelines(true), producer));

    std::vector<std::vector<uint8_t>> consumer_weights;
    std::vector<Buffer> consumer_buffers, consumer_outputs;
    for (size_t c = 0; c < shape.consumer_types.size(); ++c) {
      const TensorType consumer_type = shape.consumer_types[c];
      consumer_weights.push_back(make_weights(consumer_type, shape.consumer_rows, rows,
                                              seed + 10 + static_cast<uint32_t>(c), false));
      consumer_buffers.push_back(upload_bytes(
          device_layout(consumer_type, shape.consumer_rows, rows, consumer_weights.back()),
          "consumer weights"));
      consumer_outputs.push_back(make_buffer(shape.consumer_rows * sizeof(float)));
    }

    CommandSequence sequence(pipelines(true));
    sequence.begin();
    MatVecFusions producer_fusions{.accumulate = shape.form == ProducerForm::Accumulate,
                                   .quantize_output = &quantized_range};
    if (swiglu) producer_fusions.swiglu_up = &up_matrix;
    if (shape.next_norm) producer_fusions.quantize_norm_weight = &norm_range;
    encode_matvec(sequence, producer, whole(x_buffer), whole(y_buffer), producer_fusions);
    for (size_t c = 0; c < shape.consumer_types.size(); ++c) {
      const WeightMatrix consumer{&consumer_buffers[c], 0, shape.consumer_types[c],
                                  shape.consumer_rows, rows};
      ASSERT_TRUE(matvec_reads_quantized_x(pipelines(true), consumer));
      // The consumers read the same quantized x side by side, as a layer's q, k and v.
      MatVecFusions consumer_fusions{
          .quantized_x = &quantized_range,
          .side_by_side_rows = shape.consumer_types.size() > 1 ? shape.consumer_rows : 0};
      if (shape.next_norm) {
        consumer_fusions.norm_weight = &norm_range;
        consumer_fusions.norm_eps = kNormEps;
      }
      // x is the producer's float output, as in a plan: bound, but not read.
      encode_matvec(sequence, consumer, whole(y_buffer), whole(consumer_outputs[c]),
                    consumer_fusions);
    }
    sequence.end();
    sequence.submit_and_wait();

    // One dispatch each: the producer's int8 kernel, then the consumers' prequantized variants.
    const std::vector<CommandInfo>& infos = sequence.command_infos();
    ASSERT_EQ(infos.size(), 1 + shape.consumer_types.size());
    EXPECT_EQ(infos[0].kernel, kernel_name("matvec_int8_", type) +
                                   (shape.form == ProducerForm::Swiglu ? pair_suffix(type) : ""));
    // (Consumers without a RoPE or a pair take the one-row-per-subgroup record; Q8_0's, side by
    // side and short, its variant without the pair's registers.)
    for (size_t c = 0; c < shape.consumer_types.size(); ++c)
      EXPECT_EQ(infos[1 + c].kernel,
                kernel_name("matvec_int8_", shape.consumer_types[c]) + "_prequantized_one_row" +
                    (shape.consumer_types[c] == TensorType::Q8_0 ? "_unpaired" : ""));

    const std::string label = type_label(type) + " " + form_label(shape.form) +
                              (shape.next_norm ? " normed" : "") + " rows=" + std::to_string(rows) +
                              " subgroup=" + std::to_string(context().info().subgroup_size);
    SCOPED_TRACE(label);

    // (a) The producer's float output.
    const std::vector<float> producer_input = int8_quantized(type, x);
    const std::vector<float> gate_y = reference_matvec(type, gate, rows, cols, producer_input);
    std::vector<float> expected_y = gate_y;
    if (shape.form == ProducerForm::Accumulate)
      for (uint64_t r = 0; r < rows; ++r) expected_y[r] += residual[r];
    if (swiglu)
      expected_y = reference_swiglu(gate_y, reference_matvec(type, up, rows, cols, producer_input));
    const std::vector<float> y = download_floats(y_buffer, rows);
    const double y_error = nmse(y, expected_y);
    EXPECT_LE(y_error, kInt8Tolerance);

    // (b) The quantized output: the format applied to the y the producer wrote.
    const QuantizedVector actual = download_quantized(quantized_buffer, rows);
    const uint64_t exact_levels = expect_quantized(actual, y, next_norm_weight);

    // (c) Each consumer: exactly the vector the quantized output stands for, and (more loosely)
    // the norm of the float y.
    const std::vector<float> consumer_input = dequantize(actual, shape.next_norm);
    const std::vector<float> float_input =
        shape.next_norm ? rms_normalized(expected_y, next_norm_weight) : expected_y;
    for (size_t c = 0; c < shape.consumer_types.size(); ++c) {
      const TensorType consumer_type = shape.consumer_types[c];
      const std::vector<float> consumer_y =
          download_floats(consumer_outputs[c], shape.consumer_rows);
      const double error =
          nmse(consumer_y, reference_matvec(consumer_type, consumer_weights[c], shape.consumer_rows,
                                            rows, consumer_input));
      const double float_error =
          nmse(consumer_y, reference_matvec(consumer_type, consumer_weights[c], shape.consumer_rows,
                                            rows, float_input));
      std::printf(
          "[nmse] handoff %s -> %s: producer %.3g, consumer %.3g (against float: %.3g), "
          "levels exact %llu/%llu\n",
          label.c_str(), type_label(consumer_type).c_str(), y_error, error, float_error,
          static_cast<unsigned long long>(exact_levels), static_cast<unsigned long long>(rows));
      EXPECT_LE(error, kInt8Tolerance) << type_label(consumer_type);
      EXPECT_LE(float_error, kFloatTolerance) << type_label(consumer_type);
    }
  }
};

// The consumer types that read a quantized x: one producer feeds all of them, as a layer's output
// feeds q, k and v.
const std::vector<TensorType> kConsumerTypes = {TensorType::Q4_K, TensorType::Q5_K,
                                                TensorType::Q6_K, TensorType::Q8_0};

struct HandoffCase {
  TensorType producer_type;
  ProducerForm form;
  bool next_norm;
};

class QuantizedHandoffTypesTest : public QuantizedHandoffTest,
                                  public ::testing::WithParamInterface<HandoffCase> {};

TEST_P(QuantizedHandoffTypesTest, ProducerQuantizesAndConsumersReadIt) {
  if (unavailable()) GTEST_SKIP() << "the device has no integer dot products";
  const HandoffCase& param = GetParam();
  check_handoff({.producer_type = param.producer_type,
                 .form = param.form,
                 .next_norm = param.next_norm,
                 .rows = 512,
                 .cols = 256,
                 .consumer_types = kConsumerTypes,
                 .consumer_rows = 29},
                71);
}

std::vector<HandoffCase> handoff_cases() {
  std::vector<HandoffCase> cases;
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0})
    for (ProducerForm form : {ProducerForm::Plain, ProducerForm::Accumulate, ProducerForm::Swiglu})
      for (bool next_norm : {false, true}) cases.push_back({type, form, next_norm});
  return cases;
}

std::string handoff_case_name(const ::testing::TestParamInfo<HandoffCase>& info) {
  return type_label(info.param.producer_type) + "_" + form_label(info.param.form) +
         (info.param.next_norm ? "_normed" : "");
}

INSTANTIATE_TEST_SUITE_P(Producers, QuantizedHandoffTypesTest, ::testing::ValuesIn(handoff_cases()),
                         handoff_case_name);

// Rows one pass of the int8 kernel of `type` computes on this device (as kernels.cpp counts them).
uint64_t int8_rows_per_pass(Pipelines& pipelines, TensorType type, uint32_t subgroup_size) {
  const std::string name = kernel_name("matvec_int8_", type);
  return uint64_t{find_pipeline_record(name)->rows_per_workgroup} *
         std::max(pipelines.workgroup_size(name) / std::max(subgroup_size, 1u), 1u);
}

// The workgroups the int8 kernels aim at (kernels.cpp): taller matrices give each workgroup
// several passes of rows.
constexpr uint64_t kInt8TargetWorkgroups = 512;
// The widest x the int8 kernels take (MAX_COLS in shaders/matvec_int8.comp).
constexpr uint64_t kInt8MaxCols = 16384;

// Each pass of a workgroup quantizes its own groups: two passes in every workgroup (the widest x a
// consumer takes), then one more workgroup whose second pass has no rows left (no consumer).
TEST_F(QuantizedHandoffTest, SeveralPassesPerWorkgroup) {
  if (unavailable()) GTEST_SKIP() << "the device has no integer dot products";
  const uint64_t rows_per_pass =
      int8_rows_per_pass(pipelines(true), TensorType::Q8_0, context().info().subgroup_size);
  const uint64_t two_passes = 2 * kInt8TargetWorkgroups * rows_per_pass;
  ASSERT_LE(two_passes, kInt8MaxCols) << "no consumer could read " << two_passes << " rows";
  check_handoff({.producer_type = TensorType::Q8_0,
                 .form = ProducerForm::Accumulate,
                 .next_norm = true,
                 .rows = two_passes,
                 .cols = 64,
                 .consumer_types = {TensorType::Q4_K},
                 .consumer_rows = 3},
                81);
  check_handoff({.producer_type = TensorType::Q8_0,
                 .form = ProducerForm::Plain,
                 .next_norm = false,
                 .rows = two_passes + rows_per_pass,
                 .cols = 64,
                 .consumer_types = {},
                 .consumer_rows = 0},
                91);
}

// A layer's feed-forward chain, where the middle mat-vec is both a consumer and a producer:
// attn_out + residual quantizes with ffn_norm's weights; gate + up + SwiGLU reads that (applying
// the RMS scale) and quantizes its own output; down + residual reads it and quantizes its output
// for the next layer (with the next attn_norm's weights).
struct ChainTypes {
  TensorType type, down_type;
};

class QuantizedHandoffChainTest : public QuantizedHandoffTest,
                                  public ::testing::WithParamInterface<ChainTypes> {};

TEST_P(QuantizedHandoffChainTest, ConsumerThatAlsoProduces) {
  if (unavailable()) GTEST_SKIP() << "the device has no integer dot products";
  const uint64_t embd = 512, attn = 256, ff = 512;
  const TensorType type = GetParam().type, down_type = GetParam().down_type;
  const std::vector<uint8_t> attn_out = make_weights(type, embd, attn, 101, false);
  const std::vector<uint8_t> gate = make_weights(type, ff, embd, 102, false);
  const std::vector<uint8_t> up = make_weights(type, ff, embd, 103, false);
  const std::vector<uint8_t> down = make_weights(down_type, embd, ff, 104, false);
  const std::vector<float> attention = random_floats(attn, 105);
  const std::vector<float> residual = random_floats(embd, 106);
  const std::vector<float> ffn_norm = random_floats(embd, 107, 0.5f, 1.5f);
  const std::vector<float> next_norm = random_floats(embd, 108, 0.5f, 1.5f);

  Buffer attn_out_buffer = upload_bytes(device_layout(type, embd, attn, attn_out), "attn_out");
  std::vector<uint8_t> pair = device_layout(type, ff, embd, gate);
  const uint64_t up_offset = pair.size();
  const std::vector<uint8_t> up_device = device_layout(type, ff, embd, up);
  pair.insert(pair.end(), up_device.begin(), up_device.end());
  Buffer pair_buffer = upload_bytes(pair, "gate + up");
  Buffer down_buffer = upload_bytes(device_layout(down_type, embd, ff, down), "down");
  Buffer attention_buffer = upload_floats(attention, "attention");
  Buffer x_buffer = upload_floats(residual, "x");
  Buffer norm_buffer = upload_floats(ffn_norm, "ffn_norm");
  Buffer next_norm_buffer = upload_floats(next_norm, "next attn_norm");
  Buffer swiglu_buffer = make_buffer(ff * sizeof(float), MemoryRole::Activations, "swiglu");
  Buffer quantized_x = make_quantized_buffer(embd);
  Buffer quantized_swiglu = make_quantized_buffer(ff);
  Buffer quantized_next = make_quantized_buffer(embd);
  const BufferRange norm_range = whole(norm_buffer);
  const BufferRange next_norm_range = whole(next_norm_buffer);
  const BufferRange quantized_x_range = whole(quantized_x);
  const BufferRange quantized_swiglu_range = whole(quantized_swiglu);
  const BufferRange quantized_next_range = whole(quantized_next);
  const WeightMatrix gate_matrix{&pair_buffer, 0, type, ff, embd};
  const WeightMatrix up_matrix{&pair_buffer, up_offset, type, ff, embd};

  CommandSequence sequence(pipelines(true));
  sequence.begin();
  encode_matvec(sequence, {&attn_out_buffer, 0, type, embd, attn}, whole(attention_buffer),
                whole(x_buffer),
                {.accumulate = true,
                 .quantize_output = &quantized_x_range,
                 .quantize_norm_weight = &norm_range});
  encode_matvec(sequence, gate_matrix, whole(x_buffer), whole(swiglu_buffer),
                {.norm_weight = &norm_range,
                 .norm_eps = kNormEps,
                 .swiglu_up = &up_matrix,
                 .quantized_x = &quantized_x_range,
                 .quantize_output = &quantized_swiglu_range});
  encode_matvec(sequence, {&down_buffer, 0, down_type, embd, ff}, whole(swiglu_buffer),
                whole(x_buffer),
                {.accumulate = true,
                 .quantized_x = &quantized_swiglu_range,
                 .quantize_output = &quantized_next_range,
                 .quantize_norm_weight = &next_norm_range});
  sequence.end();
  sequence.submit_and_wait();
  const std::vector<CommandInfo>& infos = sequence.command_infos();
  ASSERT_EQ(infos.size(), 3u);
  // The K-quants' pair variant, Q8_0's one-row one; down, which quantizes its output, in the
  // one-row record that keeps the runtime pair flag's registers (not "_unpaired").
  EXPECT_EQ(infos[1].kernel, kernel_name("matvec_int8_", type) + "_prequantized" +
                                 (pair_suffix(type).empty() ? "_one_row_pair" : pair_suffix(type)));
  EXPECT_EQ(infos[2].kernel, kernel_name("matvec_int8_", down_type) + "_prequantized_one_row");

  std::vector<float> expected_x =
      reference_matvec(type, attn_out, embd, attn, int8_quantized(type, attention));
  for (uint64_t i = 0; i < embd; ++i) expected_x[i] += residual[i];
  const QuantizedVector x_quantized = download_quantized(quantized_x, embd);
  // (x_buffer now holds the down projection's sum: the quantized x is checked against the
  // expected one.)
  expect_quantized(x_quantized, expected_x, ffn_norm);

  const std::vector<float> gate_input = dequantize(x_quantized, /*normed=*/true);
  const std::vector<float> gate_y = reference_matvec(type, gate, ff, embd, gate_input);
  const std::vector<float> expected_swiglu =
      reference_swiglu(gate_y, reference_matvec(type, up, ff, embd, gate_input));
  const std::vector<float> swiglu = download_floats(swiglu_buffer, ff);
  const double swiglu_error = nmse(swiglu, expected_swiglu);
  EXPECT_LE(swiglu_error, kInt8Tolerance);
  const QuantizedVector swiglu_quantized = download_quantized(quantized_swiglu, ff);
  expect_quantized(swiglu_quantized, swiglu, std::vector<float>(ff, 1.0f));

  std::vector<float> expected_out =
      reference_matvec(down_type, down, embd, ff, dequantize(swiglu_quantized, false));
  const std::vector<float> x_after = download_floats(x_buffer, embd);
  for (uint64_t i = 0; i < embd; ++i) expected_out[i] += expected_x[i];
  const double down_error = nmse(x_after, expected_out);
  std::printf("[nmse] handoff chain %s subgroup=%u: swiglu %.3g, down %.3g\n",
              type_label(type).c_str(), context().info().subgroup_size, swiglu_error, down_error);
  EXPECT_LE(down_error, kInt8Tolerance);
  expect_quantized(download_quantized(quantized_next, embd), x_after, next_norm);
}

std::string chain_name(const ::testing::TestParamInfo<ChainTypes>& chain) {
  return type_label(chain.param.type) + "_" + type_label(chain.param.down_type);
}

// Q4_K with a Q6_K down projection (Q4_K_M's mix), and Q8_0.
INSTANTIATE_TEST_SUITE_P(Chains, QuantizedHandoffChainTest,
                         ::testing::Values(ChainTypes{TensorType::Q4_K, TensorType::Q6_K},
                                           ChainTypes{TensorType::Q8_0, TensorType::Q8_0}),
                         chain_name);

// The embedding as a producer (the first layer's q, k and v read its row quantized, times their
// norm's weights): its row as before, the row quantized as the mat-vecs quantize theirs, and a
// consumer that reads it; for every quantized table type, whose kernel takes groups of 16.
TEST_F(QuantizedHandoffTest, EmbeddingQuantizesItsRow) {
  if (unavailable()) GTEST_SKIP() << "the device has no integer dot products";
  const uint64_t rows = 9, cols = 512, consumer_rows = 64;
  const uint32_t token = 5;
  const TensorType consumer_type = TensorType::Q4_K;
  const std::vector<uint8_t> consumer_weights =
      make_weights(consumer_type, consumer_rows, cols, 31, false);
  Buffer consumer_buffer =
      upload_bytes(device_layout(consumer_type, consumer_rows, cols, consumer_weights), "consumer");
  const std::vector<float> norm_weight = random_floats(cols, 32, 0.5f, 1.5f);
  Buffer norm_buffer = upload_floats(norm_weight, "norm weight");
  const BufferRange norm_range = whole(norm_buffer);
  StepInputs step{token, 0};
  Buffer step_buffer = make_buffer(sizeof(step));
  transfer().upload(step_buffer, 0, std::as_bytes(std::span(&step, 1)));
  for (TensorType type : kWeightTypes) {
    SCOPED_TRACE(type_label(type));
    Buffer unused = make_buffer(64);
    const WeightMatrix probe{&unused, 0, type, rows, cols};
    if (!type_traits(type).quantized) {
      EXPECT_FALSE(embed_quantizes_output(probe));
      continue;
    }
    ASSERT_TRUE(embed_quantizes_output(probe));
    const std::vector<uint8_t> table = make_weights(type, rows, cols, 33, true);
    Buffer table_buffer = upload_bytes(device_layout(type, rows, cols, table), "table");
    Buffer row_buffer = make_buffer(cols * sizeof(float));
    Buffer quantized_buffer = make_quantized_buffer(cols);
    const BufferRange quantized_range = whole(quantized_buffer);
    Buffer consumer_output = make_buffer(consumer_rows * sizeof(float));

    CommandSequence sequence(pipelines(true));
    sequence.begin();
    encode_embed(sequence, {&table_buffer, 0, type, rows, cols}, whole(step_buffer),
                 whole(row_buffer), &quantized_range, &norm_range);
    MatVecFusions consumer_fusions{
        .norm_weight = &norm_range, .norm_eps = kNormEps, .quantized_x = &quantized_range};
    encode_matvec(sequence, {&consumer_buffer, 0, consumer_type, consumer_rows, cols},
                  whole(row_buffer), whole(consumer_output), consumer_fusions);
    sequence.end();
    sequence.submit_and_wait();

    const std::vector<float> row = download_floats(row_buffer, cols);
    EXPECT_LE(nmse(row, reference_row(type, table, cols, token)), kRowTolerance);
    const QuantizedVector actual = download_quantized(quantized_buffer, cols);
    expect_quantized(actual, row, norm_weight);
    const std::vector<float> consumer_y = download_floats(consumer_output, consumer_rows);
    EXPECT_LE(nmse(consumer_y, reference_matvec(consumer_type, consumer_weights, consumer_rows,
                                                cols, dequantize(actual, true))),
              kInt8Tolerance);
    EXPECT_LE(nmse(consumer_y, reference_matvec(consumer_type, consumer_weights, consumer_rows,
                                                cols, rms_normalized(row, norm_weight))),
              kFloatTolerance);
  }
}

TEST_F(QuantizedHandoffTest, OnlyInt8KernelsOfWholeGroupsTakePart) {
  if (unavailable()) GTEST_SKIP() << "the device has no integer dot products";
  Buffer weights = make_buffer(64 * 1024, MemoryRole::Weights, "weights");
  // Each pass quantizes whole groups of 16 rows.
  EXPECT_TRUE(matvec_quantizes_output(pipelines(true), {&weights, 0, TensorType::Q8_0, 32, 512}));
  EXPECT_FALSE(matvec_quantizes_output(pipelines(true), {&weights, 0, TensorType::Q8_0, 37, 512}));
  EXPECT_FALSE(matvec_quantizes_output(pipelines(true), {&weights, 0, TensorType::Q4_K, 24, 512}));
  // The float kernels neither quantize their output nor read a quantized x.
  EXPECT_FALSE(
      matvec_quantizes_output(float_matvec_pipelines(), {&weights, 0, TensorType::Q8_0, 32, 512}));
  EXPECT_FALSE(
      matvec_reads_quantized_x(float_matvec_pipelines(), {&weights, 0, TensorType::Q8_0, 32, 512}));
  // Q4_0's int8 kernel scales whole blocks of 32, not the halves the handoff scales.
  EXPECT_FALSE(matvec_reads_quantized_x(pipelines(true), {&weights, 0, TensorType::Q4_0, 32, 512}));
  for (TensorType type : kConsumerTypes)
    EXPECT_TRUE(matvec_reads_quantized_x(pipelines(true), {&weights, 0, type, 32, 512}))
        << type_label(type);
  // Levels, then a scale and a sum of squares per group, in words.
  EXPECT_EQ(quantized_activation_bytes(512), 4u * (512 / 4 + 2 * 512 / kGroup));
}

// Q8_0 mat-vecs that read a quantized x side by side (a layer's q, k and v) take the "_unpaired"
// variants where each of them has at most 4096 rows and none quantizes its output; a mat-vec
// alone, one beside a taller one, or one that quantizes its output keeps the one-row record.
TEST_F(QuantizedHandoffTest, SideBySideQ8_0MatVecsTakeTheUnpairedVariant) {
  if (unavailable()) GTEST_SKIP() << "the device has no integer dot products";
  const uint64_t cols = 256, rows = 32;
  Buffer weights =
      upload_bytes(device_layout(TensorType::Q8_0, rows, cols,
                                 make_weights(TensorType::Q8_0, rows, cols, 141, false)),
                   "weights");
  Buffer x = make_buffer(cols * sizeof(float));
  Buffer y = make_buffer(rows * sizeof(float));
  Buffer quantized_x = make_quantized_buffer(cols);
  Buffer quantized_y = make_quantized_buffer(rows);
  const BufferRange quantized_x_range = whole(quantized_x);
  const BufferRange quantized_y_range = whole(quantized_y);
  struct Case {
    uint64_t side_by_side_rows;
    bool quantizes;
    const char* kernel;
  };
  for (const Case& c : {Case{0, false, "matvec_int8_q8_0_prequantized_one_row"},
                        Case{rows, false, "matvec_int8_q8_0_prequantized_one_row_unpaired"},
                        Case{4096, false, "matvec_int8_q8_0_prequantized_one_row_unpaired"},
                        Case{4097, false, "matvec_int8_q8_0_prequantized_one_row"},
                        Case{rows, true, "matvec_int8_q8_0_prequantized_one_row"}}) {
    CommandSequence sequence(pipelines(true));
    sequence.begin();
    encode_matvec(sequence, {&weights, 0, TensorType::Q8_0, rows, cols}, whole(x), whole(y),
                  {.quantized_x = &quantized_x_range,
                   .side_by_side_rows = c.side_by_side_rows,
                   .quantize_output = c.quantizes ? &quantized_y_range : nullptr});
    sequence.end();
    ASSERT_EQ(sequence.command_infos().size(), 1u);
    EXPECT_EQ(sequence.command_infos()[0].kernel, c.kernel)
        << "beside " << c.side_by_side_rows << " rows" << (c.quantizes ? ", quantizing" : "");
  }
}

}  // namespace
}  // namespace quant::vulkan::test
