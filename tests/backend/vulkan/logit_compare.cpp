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

std::string parameter_name(std::string model_name) {
  std::replace(model_name.begin(), model_name.end(), '-', '_');
  return model_name;
}

}  // namespace quant::vulkan::test
