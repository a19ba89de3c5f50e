#include "common/checked_math.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace quant {
namespace {

TEST(CheckedMath, AddDetectsOverflow) {
  constexpr uint64_t max = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(checked_add(2, 3), 5u);
  EXPECT_EQ(checked_add(max, 0), max);
  EXPECT_FALSE(checked_add(max, 1).has_value());
}

TEST(CheckedMath, MulDetectsOverflow) {
  EXPECT_EQ(checked_mul(1u << 20, 1u << 20), uint64_t{1} << 40);
  EXPECT_FALSE(checked_mul(uint64_t{1} << 32, uint64_t{1} << 32).has_value());
  EXPECT_EQ(checked_mul(0, std::numeric_limits<uint64_t>::max()), 0u);
}

}  // namespace
}  // namespace quant
