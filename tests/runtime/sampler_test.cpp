#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "common/error.h"

namespace quant {
namespace {

SamplerOptions greedy() {
  SamplerOptions o;
  o.temperature = 0.0f;
  return o;
}

// Plain temperature sampling: every filter off.
SamplerOptions unfiltered(float temperature, uint64_t seed = 1) {
  SamplerOptions o;
  o.temperature = temperature;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.seed = seed;
  return o;
}

std::vector<float> log_probs(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::vector<float> random_logits(size_t n, uint64_t seed, float stddev) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<float> logits(n);
  for (float& l : logits) l = normal(rng);
  return logits;
}

std::vector<double> frequencies(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<double> counts(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) counts[static_cast<size_t>(sampler.sample(logits))] += 1.0;
  for (double& c : counts) c /= draws;
  return counts;
}

// The distribution the options describe, computed the obvious way: full sort, then top-k, top-p
// (on the top-k softmax), min-p and temperature, as llama.cpp orders them.
std::vector<double> reference_distribution(const std::vector<float>& logits,
                                           const SamplerOptions& o) {
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  size_t kept = order.size();
  if (o.top_k > 0) kept = std::min(kept, static_cast<size_t>(o.top_k));
  const double max = logits[order[0]];
  double total = 0.0;
  for (size_t i = 0; i < kept; ++i) total += std::exp(logits[order[i]] - max);
  if (o.top_p < 1.0f) {
    double mass = 0.0;
    for (size_t i = 0; i < kept; ++i) {
      mass += std::exp(logits[order[i]] - max) / total;
      if (mass >= o.top_p) {
        kept = i + 1;
        break;
      }
    }
  }
  size_t min_p_kept = 0;
  while (min_p_kept < kept && std::exp(logits[order[min_p_kept]] - max) >= o.min_p) ++min_p_kept;
  kept = min_p_kept;
  std::vector<double> probs(logits.size(), 0.0);
  double sum = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    probs[order[i]] = std::exp((logits[order[i]] - max) / o.temperature);
    sum += probs[order[i]];
  }
  for (double& p : probs) p /= sum;
  return probs;
}

double total_variation(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0.0;
  for (size_t i = 0; i < a.size(); ++i) d += std::abs(a[i] - b[i]);
  return d / 2;
}

TEST(Sampler, GreedyPicksTheLargestLogit) {
  Sampler sampler(greedy());
  EXPECT_EQ(sampler.sample(std::vector<float>{0.1f, 3.0f, -2.0f, 2.9f}), 1);
  EXPECT_EQ(sampler.sample(std::vector<float>{-5.0f}), 0);
}

TEST(Sampler, GreedyTiesGoToTheLowerId) {
  Sampler sampler(greedy());
  EXPECT_EQ(sampler.sample(std::vector<float>{1.0f, 7.0f, 2.0f, 7.0f, 7.0f}), 1);
  EXPECT_EQ(sampler.sample(std::vector<float>(1000, 0.5f)), 0);
}

TEST(Sampler, SameSeedGivesTheSameSequence) {
  const std::vector<float> logits = random_logits(500, 7, 1.0f);
  SamplerOptions options;  // the defaults: temperature, top-k, top-p and min-p all on
  options.top_k = 100;
  options.seed = 42;
  Sampler a(options), b(options);
  options.seed = 43;
  Sampler c(options);
  std::vector<int32_t> from_a, from_b, from_c;
  for (int i = 0; i < 200; ++i) {
    from_a.push_back(a.sample(logits));
    from_b.push_back(b.sample(logits));
    from_c.push_back(c.sample(logits));
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c);
}

TEST(Sampler, TemperatureOneFollowsTheSoftmax) {
  const std::vector<double> probs = {0.4, 0.3, 0.2, 0.1};
  Sampler sampler(unfiltered(1.0f));
  const std::vector<double> seen = frequencies(sampler, log_probs(probs), 40000);
  for (size_t i = 0; i < probs.size(); ++i) EXPECT_NEAR(seen[i], probs[i], 0.015) << "token " << i;
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  const std::vector<float> logits = log_probs({0.6, 0.3, 0.1});
  // At T = 0.5 the probabilities become p^2 normalized: 0.36, 0.09, 0.01 over 0.46.
  Sampler sharp(unfiltered(0.5f));
  const std::vector<double> seen = frequencies(sharp, logits, 40000);
  EXPECT_NEAR(seen[0], 0.36 / 0.46, 0.015);
  EXPECT_NEAR(seen[2], 0.01 / 0.46, 0.01);
  // A very high temperature makes the choice almost uniform.
  Sampler flat(unfiltered(1000.0f));
  for (double p : frequencies(flat, logits, 30000)) EXPECT_NEAR(p, 1.0 / 3, 0.02);
}

TEST(Sampler, TopKKeepsOnlyTheKBest) {
  SamplerOptions o = unfiltered(1.0f);
  o.top_k = 2;
  Sampler sampler(o);
  const std::vector<double> seen = frequencies(sampler, log_probs({0.1, 0.5, 0.1, 0.3}), 40000);
  EXPECT_EQ(seen[0] + seen[2], 0.0);
  EXPECT_NEAR(seen[1], 0.5 / 0.8, 0.015);
}

TEST(Sampler, TopPKeepsTheSmallestNucleus) {
  SamplerOptions o = unfiltered(1.0f);
  o.top_p = 0.7f;  // 0.5 < 0.7 <= 0.5 + 0.3: tokens 0 and 1 stay
  Sampler sampler(o);
  const std::vector<double> seen = frequencies(sampler, log_probs({0.5, 0.3, 0.15, 0.05}), 40000);
  EXPECT_EQ(seen[2] + seen[3], 0.0);
  EXPECT_NEAR(seen[0], 0.5 / 0.8, 0.015);
}

TEST(Sampler, MinPDropsTokensFarBelowTheBest) {
  SamplerOptions o = unfiltered(1.0f);
  o.min_p = 0.25f;  // keeps p >= 0.125
  Sampler sampler(o);
  const std::vector<double> seen = frequencies(sampler, log_probs({0.5, 0.3, 0.15, 0.05}), 40000);
  EXPECT_EQ(seen[3], 0.0);
  EXPECT_GT(seen[2], 0.1);
}

TEST(Sampler, CombinedFiltersMatchAReferenceDistribution) {
  const std::vector<float> logits = random_logits(24, 11, 1.5f);
  for (const auto& [top_k, top_p, min_p, temperature] :
       std::vector<std::tuple<int, float, float, float>>{{0, 0.9f, 0.0f, 1.0f},
                                                         {10, 0.8f, 0.05f, 0.7f},
                                                         {5, 1.0f, 0.1f, 1.3f},
                                                         {0, 0.6f, 0.2f, 0.9f}}) {
    SamplerOptions o = unfiltered(temperature, 5);
    o.top_k = top_k;
    o.top_p = top_p;
    o.min_p = min_p;
    Sampler sampler(o);
    EXPECT_LT(
        total_variation(frequencies(sampler, logits, 40000), reference_distribution(logits, o)),
        0.025)
        << "top_k " << top_k << " top_p " << top_p << " min_p " << min_p << " T " << temperature;
  }
}

TEST(Sampler, LargeVocabularyStaysInsideTheFilters) {
  const std::vector<float> logits = random_logits(200000, 3, 2.0f);
  SamplerOptions o;
  o.temperature = 1.0f;
  o.top_k = 0;
  o.top_p = 0.5f;
  o.min_p = 0.0f;
  const std::vector<double> allowed = reference_distribution(logits, o);
  Sampler nucleus(o);
  o.top_k = 40;
  o.top_p = 1.0f;
  const std::vector<double> allowed_top_k = reference_distribution(logits, o);
  Sampler top_k(o);
  for (int i = 0; i < 50; ++i) {
    EXPECT_GT(allowed[static_cast<size_t>(nucleus.sample(logits))], 0.0);
    EXPECT_GT(allowed_top_k[static_cast<size_t>(top_k.sample(logits))], 0.0);
  }
}

TEST(Sampler, RepetitionPenaltyDividesPositiveLogitsOncePerDistinctToken) {
  SamplerOptions o = greedy();
  o.repetition_penalty = 1.5f;
  Sampler sampler(o);
  const std::vector<float> logits = {2.0f, 1.0f};
  EXPECT_EQ(sampler.sample(logits, std::vector<int32_t>{}), 0);
  // 2 / 1.5 = 1.33 still beats 1; dividing once per occurrence (2 / 2.25) would not.
  EXPECT_EQ(sampler.sample(logits, std::vector<int32_t>{0, 0, 0}), 0);
  EXPECT_EQ(sampler.sample(std::vector<float>{1.4f, 1.0f}, std::vector<int32_t>{0}), 1);
}

TEST(Sampler, RepetitionPenaltyMultipliesNegativeLogits) {
  SamplerOptions o = greedy();
  o.repetition_penalty = 1.5f;
  Sampler sampler(o);
  // -1 * 1.5 = -1.5 falls below -1.4.
  EXPECT_EQ(sampler.sample(std::vector<float>{-1.0f, -1.4f}, std::vector<int32_t>{0}), 1);
}

TEST(Sampler, RepetitionPenaltyLooksOnlyAtTheWindow) {
  SamplerOptions o = greedy();
  o.repetition_penalty = 1.5f;
  o.repetition_window = 2;
  Sampler sampler(o);
  const std::vector<float> logits = {1.4f, 1.0f, 0.0f};
  EXPECT_EQ(sampler.sample(logits, std::vector<int32_t>{0, 2, 2}), 0);  // token 0 left the window
  EXPECT_EQ(sampler.sample(logits, std::vector<int32_t>{2, 0, 2}), 1);
}

TEST(Sampler, NanLogitsCountAsMinusInfinity) {
  std::vector<float> logits(300, NAN);
  logits[7] = -3.0f;
  logits[250] = -1.0f;
  Sampler greedy_sampler(greedy());
  EXPECT_EQ(greedy_sampler.sample(logits), 250);
  SamplerOptions top_k = unfiltered(1.0f);
  top_k.top_k = 5;
  SamplerOptions top_p = unfiltered(1.0f);
  top_p.top_p = 0.9f;
  for (const SamplerOptions& o : {top_k, top_p}) {
    Sampler sampler(o);
    for (int i = 0; i < 100; ++i) {
      const int32_t token = sampler.sample(logits);
      EXPECT_TRUE(token == 7 || token == 250) << token;
    }
  }
}

TEST(Sampler, RejectsBadOptionsAndInputs) {
  SamplerOptions o;
  o.temperature = -1.0f;
  EXPECT_THROW(Sampler{o}, Error);
  o = {};
  o.top_p = 0.0f;
  EXPECT_THROW(Sampler{o}, Error);
  o = {};
  o.min_p = 1.5f;
  EXPECT_THROW(Sampler{o}, Error);
  o = {};
  o.repetition_penalty = 0.0f;
  EXPECT_THROW(Sampler{o}, Error);

  o = {};
  o.repetition_penalty = 1.1f;
  Sampler sampler(o);
  EXPECT_THROW(sampler.sample(std::vector<float>{}), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{1.0f, 2.0f}, std::vector<int32_t>{5}), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>(3, NAN)), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{1.0f, INFINITY}), Error);
  Sampler greedy_sampler(greedy());
  EXPECT_THROW(greedy_sampler.sample(std::vector<float>(3, -INFINITY)), Error);
}

}  // namespace
}  // namespace quant
