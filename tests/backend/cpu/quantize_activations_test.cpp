// The activation quantizers: the fast version gives the reference's bits, the Q8_K reference gives
// the bits of ggml's reference quantize_row_q8_K (formats/quants.h), and the Q8_1 rows dequantize
// back to the input within half a level.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/matmul.h"
#include "backend/cpu/quantize_activations.h"
#include "formats/blocks.h"
#include "formats/quants.h"

namespace quant::cpu {
namespace {

// Normal values, with an all-zero block, a block whose largest magnitude appears with both signs,
// and a few outliers.
std::vector<float> activation_values(size_t n, size_t block, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  if (n >= 2 * block) {
    std::fill(x.begin() + block, x.begin() + 2 * block, 0.0f);
    x[3] = 9.0f;
    x[7] = -9.0f;
  }
  for (size_t i = 5; i < n; i += 97) x[i] *= 20.0f;
  return x;
}

TEST(QuantizeActivationsTest, FastMatchesReferenceBitForBit) {
  for (const ActivationFormat format : {ActivationFormat::Q8_1, ActivationFormat::Q8_K}) {
    const size_t block = format == ActivationFormat::Q8_K ? kSuperBlockElements : 32;
    for (const size_t blocks : {1, 2, 5}) {
      const ActivationLayout layout = activation_layout(format, blocks * block);
      const std::vector<float> x = activation_values(layout.cols, block, 3 + blocks);
      std::vector<uint8_t> fast(layout.row_bytes, 0xAA), reference(layout.row_bytes, 0xAA);
      quantize_activation_row(x.data(), layout, fast.data());
      quantize_activation_row_reference(x.data(), layout, reference.data());
      EXPECT_EQ(fast, reference) << "format " << static_cast<int>(format) << ", " << blocks
                                 << " blocks";
    }
  }
}

TEST(QuantizeActivationsTest, Q8KMatchesTheFormatsQuantizer) {
  const size_t n = 3 * kSuperBlockElements;
  const ActivationLayout layout = activation_layout(ActivationFormat::Q8_K, n);
  const std::vector<float> x = activation_values(n, kSuperBlockElements, 11);
  std::vector<uint8_t> row(layout.row_bytes);
  quantize_activation_row_reference(x.data(), layout, row.data());
  std::vector<Q8KBlock> blocks(n / kSuperBlockElements);
  quantize_row_q8_k(x.data(), blocks.data(), static_cast<int64_t>(n));
  for (size_t b = 0; b < blocks.size(); ++b) {
    EXPECT_EQ(std::memcmp(row.data() + b * kSuperBlockElements, blocks[b].qs, kSuperBlockElements),
              0)
        << "block " << b;
    float d;
    std::memcpy(&d, row.data() + layout.scales_offset + b * sizeof(float), sizeof(d));
    EXPECT_EQ(d, blocks[b].d) << "block " << b;
    EXPECT_EQ(std::memcmp(row.data() + layout.sums_offset + b * sizeof(blocks[b].bsums),
                          blocks[b].bsums, sizeof(blocks[b].bsums)),
              0)
        << "block " << b;
    // The copies for the AVX-512 kernels, by pairs of blocks.
    const size_t pair = b / 2, h = b % 2;
    for (size_t k = 0; k < 8; ++k)
      for (size_t j = 0; j < 8; ++j)
        EXPECT_EQ(std::memcmp(
                      row.data() + layout.pair_levels_offset + 512 * pair + 64 * k + 32 * h + 4 * j,
                      blocks[b].qs + 32 * j + 4 * k, 4),
                  0)
            << "block " << b << " piece " << k << " of group " << j;
    const auto pair_float = [&](size_t offset, size_t i) {
      float value;
      std::memcpy(&value, row.data() + offset + i * sizeof(float), sizeof(value));
      return value;
    };
    for (size_t j = 0; j < 8; ++j) {
      const int16_t* sums = blocks[b].bsums + 2 * j;
      EXPECT_EQ(pair_float(layout.pair_scales_offset, 16 * pair + 8 * h + j), blocks[b].d);
      EXPECT_EQ(pair_float(layout.pair_sums_offset, 48 * pair + 8 * h + j),
                static_cast<float>(sums[0] + sums[1]) * blocks[b].d);
      EXPECT_EQ(pair_float(layout.pair_sums_offset, 48 * pair + 16 + 8 * h + j),
                sums[0] * blocks[b].d);
      EXPECT_EQ(pair_float(layout.pair_sums_offset, 48 * pair + 32 + 8 * h + j),
                sums[1] * blocks[b].d);
    }
  }
  // The last block has no partner: its pair's second half is zeros.
  const uint8_t* last = row.data() + layout.pair_levels_offset + 512 * (blocks.size() / 2);
  for (size_t k = 0; k < 8; ++k)
    EXPECT_EQ(std::count(last + 64 * k + 32, last + 64 * k + 64, 0), 32) << "piece " << k;
}

TEST(QuantizeActivationsTest, Q81RoundTripsWithinHalfALevel) {
  const size_t n = 4 * 32;
  const ActivationLayout layout = activation_layout(ActivationFormat::Q8_1, n);
  const std::vector<float> x = activation_values(n, 32, 5);
  std::vector<uint8_t> row(layout.row_bytes);
  quantize_activation_row(x.data(), layout, row.data());
  const auto* levels = reinterpret_cast<const int8_t*>(row.data());
  for (size_t b = 0; b < n / 32; ++b) {
    float d, s;
    std::memcpy(&d, row.data() + layout.scales_offset + b * 4, 4);
    std::memcpy(&s, row.data() + layout.sums_offset + b * 4, 4);
    int sum = 0;
    for (size_t j = 0; j < 32; ++j) {
      // d is rounded to F16 (relative error 2^-11), so allow a little over half a level.
      EXPECT_NEAR(levels[32 * b + j] * d, x[32 * b + j], 0.51 * d + 1e-3 * std::fabs(x[32 * b + j]))
          << "element " << 32 * b + j;
      sum += levels[32 * b + j];
    }
    EXPECT_EQ(s, d * static_cast<float>(sum)) << "block " << b;
  }
}

}  // namespace
}  // namespace quant::cpu
