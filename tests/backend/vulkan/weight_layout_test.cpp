// The repacked device layouts (weight_layout.h) against their definitions, element by element: a
// shader reads what this test reads. No device is needed.

#include "backend/vulkan/weight_layout.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "formats/blocks.h"

namespace quant::vulkan {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(n);
  for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(rng());
  return bytes;
}

// Q6_K: element i of chunk j (64 elements) keeps its low 4 bits in byte i % 32 of the chunk (the
// high nibble from i = 32) and its high 2 bits in byte 32 + i % 16 at 2 * (i / 16); the scales and
// d follow all the quants of the row.
TEST(WeightLayout, Q6KChunksHoldEachElementsBits) {
  constexpr uint64_t kBlocks = 3, kRows = 2, kCols = kBlocks * 256;
  const std::vector<uint8_t> gguf = random_bytes(kRows * kBlocks * sizeof(Q6KBlock), 1);
  std::vector<uint8_t> device(kRows * device_row_bytes(TensorType::Q6_K, kCols));
  to_device_layout(TensorType::Q6_K, kCols, kRows, gguf, device);

  for (uint64_t r = 0; r < kRows; ++r) {
    const uint8_t* row = device.data() + r * device_row_bytes(TensorType::Q6_K, kCols);
    for (uint64_t b = 0; b < kBlocks; ++b) {
      Q6KBlock block;
      std::memcpy(&block, gguf.data() + (r * kBlocks + b) * sizeof(Q6KBlock), sizeof(block));
      for (int e = 0; e < 256; ++e) {
        // GGUF: in half n, element 32 * quarter + l.
        const int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
        const int low = (block.ql[64 * half + l + 32 * (quarter % 2)] >> (4 * (quarter / 2))) & 15;
        const int high = (block.qh[32 * half + l] >> (2 * quarter)) & 3;
        const uint8_t* chunk = row + 192 * b + 48 * (e / 64);
        const int i = e % 64;
        ASSERT_EQ((chunk[i % 32] >> (4 * (i / 32))) & 15, low) << "row " << r << " element " << e;
        ASSERT_EQ((chunk[32 + i % 16] >> (2 * (i / 16))) & 3, high)
            << "row " << r << " element " << e;
      }
      EXPECT_EQ(std::memcmp(row + 192 * kBlocks + 16 * b, block.scales, 16), 0);
      EXPECT_EQ(std::memcmp(row + 208 * kBlocks + 2 * b, &block.d, 2), 0);
    }
  }
}

// Q8_0: the 16-byte halves of a row's blocks, in whole groups of four transposed (half k of every
// group, then half k + 1), the rest in order, then the scales.
TEST(WeightLayout, Q8_0HalvesTransposedInGroupsOfFour) {
  constexpr uint64_t kBlocks = 5, kRows = 2, kCols = kBlocks * 32;  // 10 halves: 2 groups + 2
  const std::vector<uint8_t> gguf = random_bytes(kRows * kBlocks * sizeof(Q8_0Block), 2);
  std::vector<uint8_t> device(kRows * device_row_bytes(TensorType::Q8_0, kCols));
  to_device_layout(TensorType::Q8_0, kCols, kRows, gguf, device);

  const uint64_t expected_slots[2 * kBlocks] = {0, 2, 4, 6, 1, 3, 5, 7, 8, 9};
  for (uint64_t r = 0; r < kRows; ++r) {
    const uint8_t* row = device.data() + r * device_row_bytes(TensorType::Q8_0, kCols);
    for (uint64_t b = 0; b < kBlocks; ++b) {
      Q8_0Block block;
      std::memcpy(&block, gguf.data() + (r * kBlocks + b) * sizeof(Q8_0Block), sizeof(block));
      for (uint64_t h = 0; h < 2; ++h)
        EXPECT_EQ(std::memcmp(row + 16 * expected_slots[2 * b + h], block.qs + 16 * h, 16), 0)
            << "row " << r << " half " << 2 * b + h;
      EXPECT_EQ(std::memcmp(row + 32 * kBlocks + 2 * b, &block.d, 2), 0);
    }
  }
}

}  // namespace
}  // namespace quant::vulkan
