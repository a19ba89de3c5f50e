// The vectorized exponentials against double-precision exp, and the same result for an element
// whatever the length of the array it comes in.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/vector_exp.h"

namespace quant::cpu {
namespace {

std::vector<float> uniform_values(size_t n, float low, float high, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(rng);
  return v;
}

TEST(VectorExpTest, ExpShiftedIsWithinTwoUlpAndSumsItsValues) {
  // Softmax arguments: 0 down to where exp leaves the normal floats, plus a few of every size.
  std::vector<float> x = uniform_values(1003, -87.0f, 0.0f, 1);
  for (const float v : {0.0f, -1e-7f, -0.5f, -0.693f, -1.0f, -20.0f}) x.push_back(v);
  const float shift = 3.5f;
  for (float& v : x) v += shift;
  std::vector<float> out(x.size());
  const double sum = exp_shifted(x.data(), shift, out.data(), x.size());
  double expected_sum = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double expected = std::exp(double{x[i] - shift});
    expected_sum += expected;
    ASSERT_NEAR(out[i], expected, 2.5e-7 * expected) << "x " << x[i] - shift;
  }
  EXPECT_NEAR(sum, expected_sum, 1e-6 * expected_sum);
}

TEST(VectorExpTest, SiluMulMatchesTheDefinition) {
  const std::vector<float> gate = uniform_values(37, -30.0f, 30.0f, 2);
  const std::vector<float> up = uniform_values(37, -2.0f, 2.0f, 3);
  std::vector<float> out(gate.size());
  silu_mul(gate.data(), up.data(), out.data(), gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double expected = gate[i] / (1.0 + std::exp(-double{gate[i]})) * up[i];
    ASSERT_NEAR(out[i], expected, 1e-6 * std::fabs(expected) + 1e-30) << "gate " << gate[i];
  }
}

TEST(VectorExpTest, AnElementsResultDoesNotDependOnTheArraysLength) {
  const std::vector<float> x = uniform_values(29, -10.0f, 10.0f, 4);
  const std::vector<float> up = uniform_values(29, -2.0f, 2.0f, 5);
  std::vector<float> all_exp(x.size()), all_silu(x.size());
  exp_shifted(x.data(), 1.0f, all_exp.data(), x.size());
  silu_mul(x.data(), up.data(), all_silu.data(), x.size());
  for (size_t first = 0; first < x.size(); first += 3) {
    const size_t n = std::min<size_t>(5, x.size() - first);
    std::vector<float> part_exp(n), part_silu(n);
    exp_shifted(x.data() + first, 1.0f, part_exp.data(), n);
    silu_mul(x.data() + first, up.data() + first, part_silu.data(), n);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(part_exp[i], all_exp[first + i]) << first + i;
      EXPECT_EQ(part_silu[i], all_silu[first + i]) << first + i;
    }
  }
}

}  // namespace
}  // namespace quant::cpu
