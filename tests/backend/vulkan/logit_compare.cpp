#include "logit_compare.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "runtime/reference_data.h"

namespace quant::vulkan::test {

TopTwo top_two(std::span<const float> logits) {
  const int32_t best = quant::test::argmax(logits);
  float second = -INFINITY;
  for (size_t i = 0; i < logits.size(); ++i)
    if (static_cast<int32_t>(i) != best) second = std::max(second, logits[i]);
  return {best, logits[static_cast<size_t>(best)] - second};
}

double relative_error(std::span<const float> actual, std::span<const float> expected) {
  EXPECT_EQ(actual.size(), expected.size());
  double max_magnitude = 0.0;
  for (const float value : expected)
    max_magnitude = std::max(max_magnitude, std::fabs(double{value}));
  return max_abs_difference(actual, expected) / max_magnitude;
}

double max_abs_difference(std::span<const float> actual, std::span<const float> expected) {
  EXPECT_EQ(actual.size(), expected.size());
  double worst = 0.0;
  for (size_t i = 0; i < std::min(actual.size(), expected.size()); ++i)
    worst = std::max(worst, std::fabs(double{actual[i]} - double{expected[i]}));
  return worst;
}

std::string parameter_name(std::string model_name) {
  std::replace(model_name.begin(), model_name.end(), '-', '_');
  return model_name;
}

}  // namespace quant::vulkan::test
