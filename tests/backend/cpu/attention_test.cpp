// The CPU backend's causal attention against a double-precision softmax-weighted sum written here
// from the definition, at head sizes that fill no vector and positions that fill no key block,
// and results that do not depend on how the queries are batched.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/attention.h"

namespace quant::cpu {
namespace {

constexpr uint32_t kKvHeads = 2;  // the head under test is the second of each cache row

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// A cache of n_positions positions for kKvHeads heads, with its keys also kept by position.
struct TestCache {
  uint32_t head_dim;
  std::vector<float> keys;        // [position][kKvHeads * head_dim], as the plan's k buffer
  std::vector<float> values;      // the same for v
  std::vector<float> key_blocks;  // per head, as attention.h lays them out
  size_t head_keys;

  TestCache(uint32_t dim, uint32_t n_positions)
      : head_dim(dim),
        keys(random_values(size_t{n_positions} * kKvHeads * dim, 1)),
        values(random_values(size_t{n_positions} * kKvHeads * dim, 2)),
        head_keys(key_block_floats(n_positions, dim)) {
    key_blocks.assign(head_keys * kKvHeads, NAN);  // positions never stored must never be used
    for (uint32_t p = 0; p < n_positions; ++p)
      for (uint32_t h = 0; h < kKvHeads; ++h)
        store_key(keys.data() + (size_t{p} * kKvHeads + h) * dim, dim, p,
                  key_blocks.data() + h * head_keys);
  }

  KvHead head(uint32_t h) const {
    return {.keys = key_blocks.data() + h * head_keys,
            .values = values.data() + size_t{h} * head_dim,
            .value_stride = size_t{kKvHeads} * head_dim};
  }
};

// Runs queries [first, first + n) of `q` (rows of q_stride floats, query i at position i) into
// `out` (rows of head_dim floats).
void attend(const TestCache& cache, const std::vector<float>& q, size_t q_stride, uint32_t first,
            uint32_t n, float scale, std::vector<float>& out) {
  std::vector<float> scores(kQueryGroup * key_block_floats(first + n, 1));
  causal_attention(q.data() + first * q_stride, q_stride, n, first, cache.head(1), cache.head_dim,
                   scale, scores.data(), out.data() + size_t{first} * cache.head_dim,
                   cache.head_dim);
}

TEST(AttentionTest, MatchesTheSoftmaxWeightedSumOfValues) {
  const float scale = 0.3f;
  for (const uint32_t head_dim : {4u, 10u, 64u}) {
    const uint32_t n_positions = 37;  // two blocks and a part
    const TestCache cache(head_dim, n_positions);
    const size_t q_stride = head_dim + 3;
    const std::vector<float> q = random_values(n_positions * q_stride, 3);
    std::vector<float> out(size_t{n_positions} * head_dim, NAN);
    attend(cache, q, q_stride, 0, n_positions, scale, out);
    for (uint32_t i = 0; i < n_positions; ++i) {
      std::vector<double> weights(i + 1);
      double total = 0.0;
      for (uint32_t p = 0; p <= i; ++p) {
        double s = 0.0;
        for (uint32_t d = 0; d < head_dim; ++d)
          s += double{q[i * q_stride + d]} * cache.keys[(p * kKvHeads + 1) * head_dim + d];
        weights[p] = std::exp(scale * s);
        total += weights[p];
      }
      for (uint32_t d = 0; d < head_dim; ++d) {
        double expected = 0.0;
        for (uint32_t p = 0; p <= i; ++p)
          expected += weights[p] / total * cache.values[(p * kKvHeads + 1) * head_dim + d];
        ASSERT_NEAR(out[i * head_dim + d], expected, 1e-5)
            << "head_dim " << head_dim << " query " << i << " d " << d;
      }
    }
  }
}

TEST(AttentionTest, ResultsDoNotDependOnHowQueriesAreBatched) {
  for (const uint32_t head_dim : {10u, 64u}) {
    const uint32_t n_positions = 41;
    const TestCache cache(head_dim, n_positions);
    const std::vector<float> q = random_values(n_positions * head_dim, 4);
    std::vector<float> all(size_t{n_positions} * head_dim);
    attend(cache, q, head_dim, 0, n_positions, 0.125f, all);
    std::vector<float> one_by_one(all.size());
    for (uint32_t i = 0; i < n_positions; ++i) attend(cache, q, head_dim, i, 1, 0.125f, one_by_one);
    EXPECT_EQ(one_by_one, all) << "head_dim " << head_dim;
    // Batches that start off the query groups' boundaries.
    std::vector<float> shifted(all.size());
    for (uint32_t first = 0, n = 3; first < n_positions; first += n, n = n % 7 + 2)
      attend(cache, q, head_dim, first, std::min(n, n_positions - first), 0.125f, shifted);
    EXPECT_EQ(shifted, all) << "head_dim " << head_dim;
  }
}

}  // namespace
}  // namespace quant::cpu
