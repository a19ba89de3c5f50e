// The GLSL mirror of the block layouts (shaders/blocks.glsl) must agree with formats/blocks.h,
// field by field. blocks.glsl holds only #define lines, so it is included here as C++.

#include <gtest/gtest.h>

#include <cstddef>

#include "backend/vulkan/shaders/blocks.glsl"
#include "formats/blocks.h"

namespace quant {
namespace {

#define EXPECT_MIRRORS(glsl, cpp) \
  EXPECT_EQ(static_cast<size_t>(glsl), static_cast<size_t>(cpp)) << #glsl " vs " #cpp

TEST(BlocksMirror, LegacyBlocksMatch) {
  EXPECT_MIRRORS(BLOCK_Q4_0_ELEMENTS, kLegacyBlockElements);
  EXPECT_MIRRORS(BLOCK_Q4_0_BYTES, sizeof(Q4_0Block));
  EXPECT_MIRRORS(BLOCK_Q4_0_D, offsetof(Q4_0Block, d));
  EXPECT_MIRRORS(BLOCK_Q4_0_QS, offsetof(Q4_0Block, qs));

  EXPECT_MIRRORS(BLOCK_Q4_1_ELEMENTS, kLegacyBlockElements);
  EXPECT_MIRRORS(BLOCK_Q4_1_BYTES, sizeof(Q4_1Block));
  EXPECT_MIRRORS(BLOCK_Q4_1_D, offsetof(Q4_1Block, d));
  EXPECT_MIRRORS(BLOCK_Q4_1_M, offsetof(Q4_1Block, m));
  EXPECT_MIRRORS(BLOCK_Q4_1_QS, offsetof(Q4_1Block, qs));

  EXPECT_MIRRORS(BLOCK_Q5_0_ELEMENTS, kLegacyBlockElements);
  EXPECT_MIRRORS(BLOCK_Q5_0_BYTES, sizeof(Q5_0Block));
  EXPECT_MIRRORS(BLOCK_Q5_0_D, offsetof(Q5_0Block, d));
  EXPECT_MIRRORS(BLOCK_Q5_0_QH, offsetof(Q5_0Block, qh));
  EXPECT_MIRRORS(BLOCK_Q5_0_QS, offsetof(Q5_0Block, qs));

  EXPECT_MIRRORS(BLOCK_Q5_1_ELEMENTS, kLegacyBlockElements);
  EXPECT_MIRRORS(BLOCK_Q5_1_BYTES, sizeof(Q5_1Block));
  EXPECT_MIRRORS(BLOCK_Q5_1_D, offsetof(Q5_1Block, d));
  EXPECT_MIRRORS(BLOCK_Q5_1_M, offsetof(Q5_1Block, m));
  EXPECT_MIRRORS(BLOCK_Q5_1_QH, offsetof(Q5_1Block, qh));
  EXPECT_MIRRORS(BLOCK_Q5_1_QS, offsetof(Q5_1Block, qs));

  // Repacked rows (weight_layout.cpp): the quants of a block, then its scales.
  EXPECT_MIRRORS(DEVICE_Q8_0_QS_BYTES, sizeof(Q8_0Block::qs));
}

TEST(BlocksMirror, KBlocksMatch) {
  EXPECT_MIRRORS(BLOCK_Q4_K_ELEMENTS, kSuperBlockElements);
  EXPECT_MIRRORS(BLOCK_Q4_K_BYTES, sizeof(Q4KBlock));
  EXPECT_MIRRORS(BLOCK_Q4_K_D, offsetof(Q4KBlock, d));
  EXPECT_MIRRORS(BLOCK_Q4_K_DMIN, offsetof(Q4KBlock, dmin));
  EXPECT_MIRRORS(BLOCK_Q4_K_SCALES, offsetof(Q4KBlock, scales));
  EXPECT_MIRRORS(BLOCK_Q4_K_QS, offsetof(Q4KBlock, qs));

  EXPECT_MIRRORS(BLOCK_Q5_K_ELEMENTS, kSuperBlockElements);
  EXPECT_MIRRORS(BLOCK_Q5_K_BYTES, sizeof(Q5KBlock));
  EXPECT_MIRRORS(BLOCK_Q5_K_D, offsetof(Q5KBlock, d));
  EXPECT_MIRRORS(BLOCK_Q5_K_DMIN, offsetof(Q5KBlock, dmin));
  EXPECT_MIRRORS(BLOCK_Q5_K_SCALES, offsetof(Q5KBlock, scales));
  EXPECT_MIRRORS(BLOCK_Q5_K_QH, offsetof(Q5KBlock, qh));
  EXPECT_MIRRORS(BLOCK_Q5_K_QS, offsetof(Q5KBlock, qs));

  EXPECT_MIRRORS(DEVICE_Q6_K_QUANT_BYTES, sizeof(Q6KBlock::ql) + sizeof(Q6KBlock::qh));
  EXPECT_MIRRORS(DEVICE_Q6_K_SCALE_BYTES, sizeof(Q6KBlock::scales));
}

}  // namespace
}  // namespace quant
