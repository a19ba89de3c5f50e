// tiny-qwen35 (the Gated DeltaNet hybrid) on the CPU against llama.cpp's reference logits, greedy
// continuations and perplexity, with the looser tolerances the reference README gives for this
// model (its per-head RMSNorm of the delta-net output amplifies rounding), and the recurrent
// state's bookkeeping: reset() starts over, and batched prompt processing equals one token at a
// time.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/perplexity.h"
#include "runtime/reference_data.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"

namespace quant {
namespace {

using test::argmax;
using test::max_abs_difference;

// Relative perplexity bounds: against llama-perplexity (0.2%, as for the other models), and
// against the float64 equations where this engine computes the same products.
constexpr double kPerplexityTolerance = 2e-3;
constexpr double kFloat64PerplexityTolerance = 1e-4;

struct Qwen35Case {
  const char* name;
  // Perplexity chunks evaluated (0: all 110); the quantized files are checked on a prefix, against
  // llama-perplexity's running figure, to keep the test short.
  uint32_t max_chunks;
  // The README's float64 implementation of the equations, over all chunks. With F16 weights this
  // engine multiplies F32 activations, as that implementation does, and should land next to it;
  // for quantized weights it quantizes the activations to int8 as llama.cpp does, and follows
  // llama.cpp instead.
  std::optional<double> float64_ppl;
};

void PrintTo(const Qwen35Case& c, std::ostream* os) {
  *os << c.name;
}

SessionOptions cpu_options(uint32_t context_length, uint32_t max_batch = 32) {
  return SessionOptions{.backend = BackendChoice::Cpu,
                        .threads = 2,
                        .context_length = context_length,
                        .max_batch = max_batch};
}

// Feeds the reference's greedy tokens one at a time after `logits` and expects our argmax to be
// the reference's token at every step that is not a near-tie. Returns the steps compared.
size_t expect_greedy_matches(Session& session, std::span<const float> logits,
                             const nlohmann::json& greedy, double near_tie,
                             const std::string& what) {
  const auto expected = greedy.at("tokens").get<std::vector<int32_t>>();
  const auto gaps = greedy.at("top1_minus_top2").get<std::vector<double>>();
  size_t compared = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (gaps[i] >= near_tie) {
      EXPECT_EQ(argmax(logits), expected[i]) << what << ": greedy step " << i;
      ++compared;
    }
    logits = session.forward(expected[i]);
  }
  return compared;
}

class Qwen35ReferenceTest : public ::testing::TestWithParam<Qwen35Case> {};

TEST_P(Qwen35ReferenceTest, LogitsAndGreedyMatchReference) {
  QUANT_REQUIRE_SHARED();
  const Qwen35Case& c = GetParam();
  // Absolute bounds for this model (README: about 1e-2 f16, 0.15 Q8_0, 0.35 Q4_K_M).
  const test::ReferenceTolerance tolerance = test::reference_tolerance(c.name);
  EXPECT_TRUE(tolerance.absolute);
  const test::ReferenceLogits ref = test::load_plain_reference(c.name);
  const model::Model model = model::Model::load(test::model_path(c.name));
  Session session(model, cpu_options(256));
  ASSERT_EQ(session.n_vocab(), ref.n_vocab);

  const auto sequence = ref.meta.at("sequence_S").get<std::vector<int32_t>>();
  const auto ref_argmax = ref.meta.at("argmax_per_position").get<std::vector<int32_t>>();
  const auto ref_gaps = ref.meta.at("top1_minus_top2_per_position").get<std::vector<double>>();
  double worst = 0.0;
  size_t top1_compared = 0;
  std::span<const float> logits;
  for (size_t pos = 0; pos < sequence.size(); ++pos) {
    logits = session.forward(sequence[pos]);
    const double error = max_abs_difference(logits, ref.row(pos));
    worst = std::max(worst, error);
    EXPECT_LE(error, tolerance.max_error) << "position " << pos;
    if (ref_gaps[pos] >= tolerance.near_tie) {
      EXPECT_EQ(argmax(logits), ref_argmax[pos]) << "position " << pos;
      ++top1_compared;
    }
  }
  const size_t from_s =
      expect_greedy_matches(session, logits, ref.meta.at("greedy_from_S"), tolerance.near_tie, "S");
  session.reset();
  for (const int32_t token : ref.meta.at("prompt_tokens").get<std::vector<int32_t>>())
    logits = session.forward(token);
  const size_t from_prompt = expect_greedy_matches(
      session, logits, ref.meta.at("greedy_from_prompt"), tolerance.near_tie, "prompt");
  std::printf(
      "  %s: max |ours - ref| over %zu positions = %.3g (limit %.3g); top-1 equal at %zu "
      "positions; greedy steps compared: %zu from S, %zu from the prompt\n",
      c.name, sequence.size(), worst, tolerance.max_error, top1_compared, from_s, from_prompt);
}

TEST_P(Qwen35ReferenceTest, PerplexityMatchesReference) {
  QUANT_REQUIRE_SHARED();
  const Qwen35Case& c = GetParam();
  const nlohmann::json ref =
      test::read_json(
          test::shared_path("reference/logits/perplexity_tinyshakespeare-16k_c128.json"))
          .at(c.name);
  const model::Model model = model::Model::load(test::model_path(c.name));
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  const std::vector<int32_t> tokens = tokenizer.encode(
      test::read_text_file(test::shared_path("data/text/tinyshakespeare-16k.txt")), true, false);
  Session session(model, cpu_options(128));
  const PerplexityResult result =
      compute_perplexity(session, tokens, *tokenizer.bos_id(),
                         PerplexityOptions{.context = 128, .max_chunks = c.max_chunks});

  const auto running = ref.at("running_ppl_after_each_chunk").get<std::vector<double>>();
  ASSERT_EQ(result.n_chunks, c.max_chunks == 0 ? ref.at("n_chunks").get<uint32_t>() : c.max_chunks);
  const double llama_cpp = running.at(result.n_chunks - 1);
  std::printf("  %s: ppl %.4f over %u chunks; llama.cpp %.4f (relative %.2e)\n", c.name, result.ppl,
              result.n_chunks, llama_cpp, result.ppl / llama_cpp - 1.0);
  EXPECT_NEAR(result.ppl / llama_cpp, 1.0, kPerplexityTolerance);
  if (c.max_chunks == 0) {
    EXPECT_EQ(result.tokens_scored, ref.at("tokens_scored").get<uint64_t>());
    EXPECT_NEAR(result.ppl_error / ref.at("ppl_plusminus").get<double>(), 1.0, 0.01);
  }
  if (c.float64_ppl) {
    std::printf("  %s: float64 equations %.4f (relative %.2e)\n", c.name, *c.float64_ppl,
                result.ppl / *c.float64_ppl - 1.0);
    EXPECT_NEAR(result.ppl / *c.float64_ppl, 1.0, kFloat64PerplexityTolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Qwen35Models, Qwen35ReferenceTest,
                         ::testing::Values(Qwen35Case{"tiny-qwen35-f16", 0, 666.7617},
                                           Qwen35Case{"tiny-qwen35-Q8_0", 25, std::nullopt},
                                           Qwen35Case{"tiny-qwen35-Q4_K_M", 25, std::nullopt}),
                         [](const ::testing::TestParamInfo<Qwen35Case>& param_info) {
                           std::string name = param_info.param.name;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The logits of `tokens` fed one at a time from a fresh sequence.
std::vector<float> one_at_a_time(Session& session, std::span<const int32_t> tokens) {
  session.reset();
  std::vector<float> logits;
  for (const int32_t token : tokens) {
    const std::span<const float> row = session.forward(token);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  return logits;
}

TEST(Qwen35StateTest, ResetStartsTheSequenceOver) {
  QUANT_REQUIRE_SHARED();
  const model::Model model = model::Model::load(test::model_path("tiny-qwen35-f16"));
  const auto sequence = test::load_plain_reference("tiny-qwen35-f16")
                            .meta.at("sequence_S")
                            .get<std::vector<int32_t>>();
  Session session(model, cpu_options(64));
  const std::vector<float> first = one_at_a_time(session, sequence);
  // The first pass leaves conv and delta states behind that reset() must clear.
  const std::vector<float> again = one_at_a_time(session, sequence);
  EXPECT_EQ(first, again);
}

TEST(Qwen35StateTest, BatchedPromptEqualsOneTokenAtATime) {
  QUANT_REQUIRE_SHARED();
  const model::Model model = model::Model::load(test::model_path("tiny-qwen35-f16"));
  const auto sequence = test::load_plain_reference("tiny-qwen35-f16")
                            .meta.at("sequence_S")
                            .get<std::vector<int32_t>>();
  Session single(model, cpu_options(64, 1));
  const std::vector<float> expected = one_at_a_time(single, sequence);
  // Batches of 1, 2, 3, 5 and 32 tokens put the convolution window and the delta state across
  // every kind of batch boundary.
  for (const uint32_t max_batch : {1u, 2u, 3u, 5u, 32u}) {
    Session batched(model, cpu_options(64, max_batch));
    // Two calls, so the second starts in the middle of the sequence with state carried over.
    const std::span<const int32_t> all(sequence);
    std::vector<float> logits;
    for (const std::span<const int32_t> part : {all.first(7), all.subspan(7)}) {
      const std::span<const float> rows = batched.forward_batch(part);
      logits.insert(logits.end(), rows.begin(), rows.end());
    }
    const double difference = max_abs_difference(logits, expected);
    std::printf("  max_batch %u: max |batched - one at a time| = %.3g\n", max_batch, difference);
    EXPECT_LE(difference, 1e-5) << "max_batch " << max_batch;
  }
}

}  // namespace
}  // namespace quant
