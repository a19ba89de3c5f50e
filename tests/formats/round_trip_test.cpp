// quantize -> dequantize on random and edge-case rows for every type, with an error bound per type.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "formats/tensor_type.h"

namespace quant {
namespace {

// RMSE over standard deviation for Gaussian rows. A b-bit uniform quantizer of a block spanning R
// has RMSE ~ R / (2^b - 1) / sqrt(12); with 32-element blocks of N(0, 1) R ~ 4.1 (min-max) and the
// absmax types use 2 * absmax ~ 4.5. The bounds sit about 15% above what the reference algorithms
// give, so a lost rounding step or a worse scale choice fails. The K-quants' searched scales beat
// the formula.
struct Case {
  TensorType type;
  double relative_rmse;
};

constexpr Case kCases[] = {
    {TensorType::F32, 0.0},      // exact
    {TensorType::F16, 2.5e-4},   // 11-bit significand: <= 2^-12 relative, uniform ~ 2^-12 / sqrt(3)
    {TensorType::BF16, 1.9e-3},  // 8-bit significand: 2^-9 / sqrt(3)
    {TensorType::Q4_0, 0.100},   // 16 levels over 2 * absmax        (measured 0.086)
    {TensorType::Q4_1, 0.090},   // 16 levels over max - min         (0.078)
    {TensorType::Q5_0, 0.050},   // 32 levels over 2 * absmax        (0.043)
    {TensorType::Q5_1, 0.044},   // 32 levels over max - min         (0.038)
    {TensorType::Q8_0, 0.0062},  // 255 levels over 2 * absmax       (0.0054)
    {TensorType::Q8_1, 0.0062},  // as Q8_0
    {TensorType::Q4_K, 0.082},   // 16 levels, searched scale + min  (0.071)
    {TensorType::Q5_K, 0.042},   // 32 levels, searched scale + min  (0.036)
    {TensorType::Q6_K, 0.021},   // 64 levels, searched scale        (0.018)
    {TensorType::Q8_K, 0.0080},  // 255 levels over 2 * absmax of 256 elements (0.0070)
};

std::string name_of(TensorType type) {
  return std::string(type_traits(type).name);
}

std::vector<float> gaussian(size_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> values(n);
  for (float& v : values) v = normal(rng);
  return values;
}

std::vector<float> round_trip(TensorType type, const std::vector<float>& values,
                              int64_t row_length) {
  const int64_t rows = static_cast<int64_t>(values.size()) / row_length;
  std::vector<uint8_t> blocks(rows * *row_bytes(type, static_cast<uint64_t>(row_length)));
  quantize_rows(type, values.data(), blocks.data(), rows, row_length);
  std::vector<float> back(values.size());
  dequantize_rows(type, blocks.data(), back.data(), rows, row_length);
  return back;
}

double rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += (static_cast<double>(a[i]) - b[i]) * (a[i] - b[i]);
  return std::sqrt(sum / static_cast<double>(a.size()));
}

TEST(RoundTrip, GaussianRowsStayWithinTheTypesBound) {
  for (const Case& c : kCases) {
    const int64_t block = type_traits(c.type).block_elements;
    const int64_t unit = std::max<int64_t>(block, 32);
    for (int64_t blocks_per_row : {1, 3, 16}) {
      const int64_t row_length = unit * blocks_per_row;
      const int64_t rows = std::max<int64_t>(4, 16384 / row_length);
      // Typical weights (0.02), unit scale and large values; the bound is relative to sigma.
      for (float sigma : {0.02f, 1.0f, 300.0f}) {
        SCOPED_TRACE(name_of(c.type) + " row " + std::to_string(row_length) + " sigma " +
                     std::to_string(sigma));
        const std::vector<float> values = gaussian(rows * row_length, sigma, 1234 + row_length);
        const std::vector<float> back = round_trip(c.type, values, row_length);
        EXPECT_LE(rmse(back, values), c.relative_rmse * sigma);
      }
    }
  }
}

TEST(RoundTrip, ZeroRowsStayZero) {
  for (const Case& c : kCases) {
    const std::vector<float> zeros(512, 0.0f);
    const std::vector<float> back = round_trip(c.type, zeros, 512);
    for (float v : back) ASSERT_EQ(v, 0.0f) << name_of(c.type);
  }
}

double rms(const std::vector<float>& values) {
  return rmse(values, std::vector<float>(values.size()));
}

// Constant rows come back almost exactly. (Not much smaller constants: below ~0.05 the K-quants'
// super- block scale falls among the F16 subnormals and loses precision, in the reference format as
// here.) One-signed rows must do as well as Gaussian ones, relative to their RMS.
TEST(RoundTrip, ConstantAndOneSignedRows) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(name_of(c.type));
    for (float level : {0.7f, -0.7f, 0.05f, 300.0f}) {
      const std::vector<float> constant(512, level);
      const std::vector<float> back = round_trip(c.type, constant, 512);
      EXPECT_LE(rmse(back, constant), 0.01 * std::fabs(level)) << level;
    }
    std::vector<float> positive = gaussian(512, 1.0f, 99);
    for (float& v : positive) v = std::fabs(v) + 0.5f;
    EXPECT_LE(rmse(round_trip(c.type, positive, 512), positive), c.relative_rmse * rms(positive));
    std::vector<float> negative = positive;
    for (float& v : negative) v = -v;
    EXPECT_LE(rmse(round_trip(c.type, negative, 512), negative), c.relative_rmse * rms(negative));
  }
}

// A large outlier costs its block precision but must come back close itself, and must not disturb
// other blocks.
TEST(RoundTrip, OutliersStayInTheirBlock) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(name_of(c.type));
    std::vector<float> values = gaussian(1024, 1.0f, 5);
    values[3] = 5000.0f;
    const std::vector<float> back = round_trip(c.type, values, 1024);
    EXPECT_NEAR(back[3], 5000.0f, 5000.0f * 0.01f);
    for (float v : back) ASSERT_TRUE(std::isfinite(v));
    const auto block =
        static_cast<size_t>(std::max<int64_t>(type_traits(c.type).block_elements, 32));
    const std::vector<float> rest(values.begin() + static_cast<std::ptrdiff_t>(block),
                                  values.end());
    const std::vector<float> rest_back(back.begin() + static_cast<std::ptrdiff_t>(block),
                                       back.end());
    EXPECT_LE(rmse(rest_back, rest), c.relative_rmse);
  }
}

// Non-finite input has no meaningful encoding, but quantizing it is defined behaviour and confined
// to its block: the blocks after it come out as if quantized alone.
TEST(RoundTrip, NonFiniteInputIsConfinedToItsBlock) {
  for (const Case& c : kCases) {
    if (!type_traits(c.type).quantized) continue;
    SCOPED_TRACE(name_of(c.type));
    const int64_t block = type_traits(c.type).block_elements;
    const size_t block_bytes = type_traits(c.type).block_bytes;
    for (float bad : {NAN, INFINITY, -INFINITY}) {
      std::vector<float> values = gaussian(2 * block, 1.0f, 17);
      values[1] = bad;
      std::vector<uint8_t> both(2 * block_bytes), alone(block_bytes);
      quantize_rows(c.type, values.data(), both.data(), 1, 2 * block);
      quantize_rows(c.type, values.data() + block, alone.data(), 1, block);
      EXPECT_EQ(std::memcmp(both.data() + block_bytes, alone.data(), block_bytes), 0) << bad;
    }
  }
}

TEST(RoundTrip, QuantizingFromSeveralThreadsGivesTheSameBytes) {
  const int64_t rows = 32;
  const int64_t row_length = 1024;
  const std::vector<float> values = gaussian(rows * row_length, 1.0f, 3);
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0}) {
    const size_t stride = *row_bytes(type, row_length);
    std::vector<uint8_t> serial(rows * stride), parallel(rows * stride);
    quantize_rows(type, values.data(), serial.data(), rows, row_length);
    std::vector<std::thread> threads;
    for (int64_t part = 0; part < 4; ++part) {
      threads.emplace_back([&, part] {
        const int64_t first = part * rows / 4;
        quantize_rows(type, values.data() + first * row_length, parallel.data() + first * stride,
                      rows / 4, row_length);
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(serial, parallel) << name_of(type);
  }
}

}  // namespace
}  // namespace quant
