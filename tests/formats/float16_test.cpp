// F16 and BF16 conversions: exhaustive over all 65536 bit patterns, every rounding boundary between
// neighbouring representable values, and the edges (overflow, subnormals, NaN). The row conversions
// (F16C where the build has it) must give the bits of the scalar functions everywhere.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "formats/float16.h"

namespace quant {
namespace {

static_assert(fp32_to_fp16(1.0f) == 0x3c00 && fp16_to_fp32(0x3c00) == 1.0f);
static_assert(fp32_to_fp16(-2.0f) == 0xc000 && fp32_to_bf16(1.0f) == 0x3f80);

bool is_nan16(uint16_t h) {
  return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
}
bool is_nan_bf16(uint16_t b) {
  return (b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0;
}
uint32_t bits(float f) {
  return std::bit_cast<uint32_t>(f);
}

// The value of a finite F16 pattern, computed independently in double.
double f16_value(uint16_t h) {
  const int sign = (h & 0x8000) ? -1 : 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

std::vector<uint16_t> all_patterns() {
  std::vector<uint16_t> patterns(65536);
  for (uint32_t i = 0; i < 65536; ++i) patterns[i] = static_cast<uint16_t>(i);
  return patterns;
}

TEST(Float16, WideningIsExactForEveryPattern) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = fp16_to_fp32(h);
    if (is_nan16(h)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      ASSERT_EQ(bits(f) >> 31, i >> 15u) << "NaN sign, " << std::hex << i;
      ASSERT_NE(bits(f) & 0x400000u, 0u) << "NaN made quiet, " << std::hex << i;
      ASSERT_EQ((bits(f) >> 13) & 0x1ffu, i & 0x1ffu) << "NaN payload kept, " << std::hex << i;
    } else if ((h & 0x7fff) == 0x7c00) {
      ASSERT_TRUE(std::isinf(f) && std::signbit(f) == ((h & 0x8000) != 0)) << std::hex << i;
    } else {
      ASSERT_EQ(static_cast<double>(f), f16_value(h)) << std::hex << i;
      ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << i;  // -0 stays -0
    }
  }
}

TEST(Float16, NarrowingRoundTripsEveryPattern) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const uint16_t back = fp32_to_fp16(fp16_to_fp32(h));
    if (is_nan16(h)) {
      ASSERT_EQ(back, h | 0x200) << std::hex << i;  // quiet, same sign and payload
    } else {
      ASSERT_EQ(back, h) << std::hex << i;
    }
  }
}

// Between each two neighbouring finite F16 values of the same sign: the exact midpoint goes to the
// one with an even mantissa, one float ulp either side goes to the nearer one.
TEST(Float16, NarrowingRoundsToNearestEvenAtEveryBoundary) {
  for (uint32_t sign : {0u, 0x8000u}) {
    for (uint32_t magnitude = 0; magnitude < 0x7bff; ++magnitude) {
      const auto lower = static_cast<uint16_t>(sign | magnitude);
      const auto upper = static_cast<uint16_t>(sign | (magnitude + 1));
      const auto midpoint = static_cast<float>((f16_value(lower) + f16_value(upper)) / 2);
      ASSERT_EQ(static_cast<double>(midpoint), (f16_value(lower) + f16_value(upper)) / 2);
      const uint16_t even = (magnitude & 1) == 0 ? lower : upper;
      ASSERT_EQ(fp32_to_fp16(midpoint), even) << std::hex << magnitude;
      const float toward_zero = std::nextafter(midpoint, 0.0f);
      const float away = std::nextafter(midpoint, sign ? -INFINITY : INFINITY);
      ASSERT_EQ(fp32_to_fp16(toward_zero), lower) << std::hex << magnitude;
      ASSERT_EQ(fp32_to_fp16(away), upper) << std::hex << magnitude;
    }
  }
}

TEST(Float16, NarrowingEdges) {
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);                        // largest finite
  EXPECT_EQ(fp32_to_fp16(std::nextafter(65520.0f, 0.0f)), 0x7bff);  // just below the overflow tie
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);                        // tie rounds to even: infinity
  EXPECT_EQ(fp32_to_fp16(-1e10f), 0xfc00);
  EXPECT_EQ(fp32_to_fp16(INFINITY), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(-INFINITY), 0xfc00);
  EXPECT_EQ(fp32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);  // half the smallest subnormal: even
  EXPECT_EQ(fp32_to_fp16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(-0x1p-26f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(0x1.8p-24f), 0x0002);  // 1.5 units: even
  EXPECT_EQ(fp32_to_fp16(std::nextafter(0x1p-14f, 0.0f)),
            0x0400);  // rounds up to the smallest normal
  EXPECT_EQ(fp32_to_fp16(1e-30f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0x00000001u)), 0x0000);  // float32 subnormal
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0x7fc00000u)), 0x7e00);
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0xff800001u)), 0xfe00);  // signalling NaN, made quiet
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0x7fa02000u)), 0x7f01);  // payload's top bits kept
}

TEST(Float16, RowConversionsMatchScalarForEveryPattern) {
  const std::vector<uint16_t> patterns = all_patterns();
  std::vector<float> widened(patterns.size());
  fp16_to_fp32_row(patterns.data(), widened.data(), static_cast<int64_t>(patterns.size()));
  for (size_t i = 0; i < patterns.size(); ++i) {
    ASSERT_EQ(bits(widened[i]), bits(fp16_to_fp32(patterns[i]))) << std::hex << i;
  }
  // Narrowing: every F16 value and, for every pattern, floats around it: the rounding boundaries
  // (+- 4096 float ulps is the half-way point for normal F16 values), off-by-one neighbours, and
  // NaNs with assorted payloads.
  std::vector<float> inputs;
  for (uint16_t h : patterns) {
    const uint32_t b = bits(fp16_to_fp32(h));
    for (uint32_t delta : {0u, 1u, 0xfffu, 0x1000u, 0x1001u, 0x1fffu}) {
      inputs.push_back(std::bit_cast<float>(b + delta));
      inputs.push_back(std::bit_cast<float>(b - delta));
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i)
    inputs.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng())));
  std::vector<uint16_t> narrowed(inputs.size());
  fp32_to_fp16_row(inputs.data(), narrowed.data(), static_cast<int64_t>(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(narrowed[i], fp32_to_fp16(inputs[i])) << std::hex << bits(inputs[i]);
  }
}

TEST(BFloat16, WideningAndRoundTripForEveryPattern) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto b = static_cast<uint16_t>(i);
    const float f = bf16_to_fp32(b);
    ASSERT_EQ(bits(f), i << 16);
    const uint16_t back = fp32_to_bf16(f);
    ASSERT_EQ(back, is_nan_bf16(b) ? (b | 0x40) : b) << std::hex << i;
  }
}

TEST(BFloat16, NarrowingRoundsToNearestEvenAtEveryBoundary) {
  // Neighbouring finite patterns differ by one in their bits; the midpoint is the float with 0x8000
  // in its low half. Subnormals included (never flushed); the last finite pair ties to infinity.
  for (uint32_t sign : {0u, 0x8000u}) {
    for (uint32_t magnitude = 0; magnitude < 0x7f80; ++magnitude) {
      const uint32_t lower = sign | magnitude;
      const uint32_t upper = lower + 1;
      const uint32_t midpoint = (lower << 16) | 0x8000u;
      const uint32_t even = (magnitude & 1) == 0 ? lower : upper;
      ASSERT_EQ(fp32_to_bf16(std::bit_cast<float>(midpoint)), even) << std::hex << magnitude;
      ASSERT_EQ(fp32_to_bf16(std::bit_cast<float>(midpoint - 1)), lower) << std::hex << magnitude;
      ASSERT_EQ(fp32_to_bf16(std::bit_cast<float>(midpoint + 1)), upper) << std::hex << magnitude;
    }
  }
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7f7f8000u)), 0x7f80);  // to infinity
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x00000001u)), 0x0000);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x00018000u)), 0x0002);  // subnormal tie: even
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0xff800001u)), 0xffc0);  // signalling NaN, made quiet
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7fffffffu)),
            0x7fff);  // NaN never rounds to infinity
}

TEST(BFloat16, RowConversionsMatchScalar) {
  const std::vector<uint16_t> patterns = all_patterns();
  std::vector<float> widened(patterns.size());
  bf16_to_fp32_row(patterns.data(), widened.data(), static_cast<int64_t>(patterns.size()));
  for (size_t i = 0; i < patterns.size(); ++i)
    ASSERT_EQ(bits(widened[i]), bits(bf16_to_fp32(patterns[i])));
  std::mt19937 rng(11);
  std::vector<float> inputs(100003);
  for (float& f : inputs) f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
  std::vector<uint16_t> narrowed(inputs.size());
  fp32_to_bf16_row(inputs.data(), narrowed.data(), static_cast<int64_t>(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) ASSERT_EQ(narrowed[i], fp32_to_bf16(inputs[i]));
}

}  // namespace
}  // namespace quant
