#pragma once
// Measures shared by the whole-model tests of the Vulkan backend: how clear a row's choice is (how
// far one row is from another: runtime/reference_data.h).

#include <cstdint>
#include <span>
#include <string>

namespace quant::vulkan::test {

// The best token of a row and its margin over the runner-up.
struct TopTwo {
  int32_t top1 = 0;  // ties go to the lower id, as in greedy decoding
  float gap = 0.0f;  // top1's logit minus the runner-up's
};

TopTwo top_two(std::span<const float> logits);

// A model name as a GoogleTest parameter name: '-' becomes '_'.
std::string parameter_name(std::string model_name);

}  // namespace quant::vulkan::test
