// The CPU kernels against plain double-precision versions written here from the definitions, at odd
// sizes, and the thread pool's work split.

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/thread_pool.h"
#include "formats/float16.h"

namespace quant::cpu {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

TEST(KernelsTest, DotMatchesDoubleSumAtOddLengths) {
  for (const size_t n : {0, 1, 7, 15, 16, 17, 33, 255, 1000}) {
    const std::vector<float> a = random_values(n, 1), b = random_values(n, 2);
    double expected = 0.0;
    for (size_t i = 0; i < n; ++i) expected += double{a[i]} * b[i];
    EXPECT_NEAR(dot(a.data(), b.data(), n), expected, 1e-5 * (1.0 + std::sqrt(double(n))))
        << "n = " << n;
  }
}

TEST(KernelsTest, RmsNormPerGroup) {
  const uint32_t groups = 3, size = 13;
  const std::vector<float> x = random_values(groups * size, 3);
  const std::vector<float> w = random_values(size, 4);
  std::vector<float> out(x.size());
  rms_norm(x.data(), w.data(), out.data(), groups, size, 1e-5f);
  for (uint32_t g = 0; g < groups; ++g) {
    double mean_square = 0.0;
    for (uint32_t i = 0; i < size; ++i) mean_square += double{x[g * size + i]} * x[g * size + i];
    mean_square /= size;
    for (uint32_t i = 0; i < size; ++i)
      EXPECT_NEAR(out[g * size + i], x[g * size + i] / std::sqrt(mean_square + 1e-5) * w[i], 1e-5);
  }
}

TEST(KernelsTest, MatvecRowsOverBatchF32AndF16) {
  const uint64_t rows = 19, cols = 37;
  const uint32_t batch = 3;
  const std::vector<float> w = random_values(rows * cols, 5);
  const size_t in_stride = cols + 3, out_stride = rows + 5;  // rows of a batch need not be packed
  const std::vector<float> in = random_values(in_stride * batch, 6);

  std::vector<uint16_t> w16(w.size());
  for (size_t i = 0; i < w.size(); ++i) w16[i] = fp32_to_fp16(w[i]);
  for (const TensorType type : {TensorType::F32, TensorType::F16}) {
    const TypeTraits& traits = type_traits(type);
    const WeightMatrix matrix{.data = type == TensorType::F32
                                          ? reinterpret_cast<const uint8_t*>(w.data())
                                          : reinterpret_cast<const uint8_t*>(w16.data()),
                              .type = type,
                              .dequantize_row = traits.dequantize_row,
                              .cols = cols,
                              .rows = rows,
                              .row_bytes = *row_bytes(type, cols)};
    std::vector<float> out(out_stride * batch, -1.0f), scratch(cols);
    // Two calls over a split of the rows, as two threads would make them.
    matvec_rows(matrix, in.data(), in_stride, out.data(), out_stride, batch, 0, 7, scratch.data());
    matvec_rows(matrix, in.data(), in_stride, out.data(), out_stride, batch, 7, rows,
                scratch.data());
    for (uint32_t b = 0; b < batch; ++b)
      for (uint64_t r = 0; r < rows; ++r) {
        double expected = 0.0;
        for (uint64_t c = 0; c < cols; ++c) {
          const float weight =
              type == TensorType::F32 ? w[r * cols + c] : fp16_to_fp32(w16[r * cols + c]);
          expected += double{weight} * in[b * in_stride + c];
        }
        EXPECT_NEAR(out[b * out_stride + r], expected, 1e-4)
            << traits.name << " b " << b << " r " << r;
      }
  }
}

// RoPE from its definition: pair (i, j) of each head rotated by pos * theta^(-2k/n_rot) for pair k.
void reference_rope(std::vector<float>& x, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot,
                    double theta, plan::RopeStyle style, uint32_t pos) {
  for (uint32_t h = 0; h < n_heads; ++h)
    for (uint32_t k = 0; k < n_rot / 2; ++k) {
      const double angle = pos * std::pow(theta, -2.0 * k / n_rot);
      const uint32_t i = style == plan::RopeStyle::AdjacentPairs ? 2 * k : k;
      const uint32_t j = style == plan::RopeStyle::AdjacentPairs ? 2 * k + 1 : k + n_rot / 2;
      const double a = x[h * head_dim + i], b = x[h * head_dim + j];
      x[h * head_dim + i] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
      x[h * head_dim + j] = static_cast<float>(a * std::sin(angle) + b * std::cos(angle));
    }
}

TEST(KernelsTest, RopeBothStylesAndPartialRotation) {
  const uint32_t n_heads = 3, head_dim = 12;
  for (const plan::RopeStyle style : {plan::RopeStyle::AdjacentPairs, plan::RopeStyle::Neox})
    for (const uint32_t n_rot : {12u, 8u})
      for (const uint32_t pos : {0u, 1u, 37u}) {
        std::vector<float> x = random_values(n_heads * head_dim, 7);
        std::vector<float> expected = x;
        rope(x.data(), n_heads, head_dim, n_rot, 10000.0f, style, pos);
        reference_rope(expected, n_heads, head_dim, n_rot, 10000.0, style, pos);
        for (size_t i = 0; i < x.size(); ++i)
          EXPECT_NEAR(x[i], expected[i], 1e-5) << "style " << static_cast<int>(style) << " n_rot "
                                               << n_rot << " pos " << pos << " i " << i;
      }
}

TEST(KernelsTest, Add) {
  const std::vector<float> a = random_values(9, 11, 3.0f), b = random_values(9, 12);
  std::vector<float> sum(9);
  add(a.data(), b.data(), sum.data(), 9);
  for (size_t i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(sum[i], a[i] + b[i]);
}

TEST(ThreadPoolTest, EveryThreadRunsOnceAndSplitsCoverAllItems) {
  for (const uint32_t threads : {1u, 2u, 3u}) {
    ThreadPool pool(threads);
    for (int round = 0; round < 50; ++round) {
      std::vector<std::atomic<int>> hits(101);
      pool.run([&](uint32_t t) {
        const ThreadPool::Range r = ThreadPool::split(hits.size(), t, pool.size());
        for (uint64_t i = r.begin; i < r.end; ++i) hits[i]++;
      });
      for (const auto& h : hits) ASSERT_EQ(h.load(), 1) << threads << " threads";
    }
  }
}

TEST(ThreadPoolTest, ChunksCoverAllItemsOnceInWholeGranules) {
  for (const uint32_t threads : {1u, 2u, 3u}) {
    ThreadPool pool(threads);
    for (const uint64_t granule : {1u, 7u, 16u, 200u}) {
      const uint64_t n = 1001;
      std::vector<std::atomic<int>> hits(n);
      pool.run_chunks(n, granule, [&](uint32_t thread, uint64_t begin, uint64_t end) {
        ASSERT_LT(thread, pool.size());
        ASSERT_LT(begin, end);
        // Every chunk but the last is whole granules.
        if (end < n) {
          ASSERT_EQ((end - begin) % granule, 0u);
        }
        for (uint64_t i = begin; i < end; ++i) hits[i]++;
      });
      for (const auto& h : hits)
        ASSERT_EQ(h.load(), 1) << threads << " threads, granule " << granule;
    }
  }
}

}  // namespace
}  // namespace quant::cpu
