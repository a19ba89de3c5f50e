// Perplexity over tinyshakespeare-16k with windows of 128 tokens against llama-perplexity's
// figures, and stories260K's 200-token greedy text from BOS against llama2.c's known-good output.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/perplexity.h"
#include "runtime/reference_data.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"

namespace quant {
namespace {

constexpr double kPerplexityTolerance = 0.002;  // relative

class PerplexityTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PerplexityTest, MatchesLlamaPerplexity) {
  QUANT_REQUIRE_SHARED();
  const std::string name = GetParam();
  const nlohmann::json ref =
      test::read_json(
          test::shared_path("reference/logits/perplexity_tinyshakespeare-16k_c128.json"))
          .at(name);
  const model::Model model = model::Model::load(test::model_path(name));
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  const std::vector<int32_t> tokens = tokenizer.encode(
      test::read_text_file(test::shared_path("data/text/tinyshakespeare-16k.txt")), true, false);

  Session session(
      model, SessionOptions{.backend = BackendChoice::Cpu, .threads = 2, .context_length = 128});
  const PerplexityResult result =
      compute_perplexity(session, tokens, *tokenizer.bos_id(), PerplexityOptions{.context = 128});

  const double expected = ref.at("ppl").get<double>();
  std::printf("  %s: ppl %.4f +/- %.5f, reference %.4f +/- %.5f, relative difference %.2e\n",
              name.c_str(), result.ppl, result.ppl_error, expected,
              ref.at("ppl_plusminus").get<double>(), result.ppl / expected - 1.0);
  EXPECT_EQ(result.n_chunks, ref.at("n_chunks").get<uint32_t>());
  EXPECT_EQ(result.tokens_scored, ref.at("tokens_scored").get<uint64_t>());
  EXPECT_NEAR(result.ppl / expected, 1.0, kPerplexityTolerance);
  EXPECT_NEAR(result.ppl_error / ref.at("ppl_plusminus").get<double>(), 1.0, 0.01);
}

INSTANTIATE_TEST_SUITE_P(LlamaModels, PerplexityTest,
                         ::testing::Values("stories260K-f32", "tiny-llama-f16", "tiny-llama-Q8_0",
                                           "tiny-llama-Q4_K_M", "tiny-llama-deep-f16",
                                           "tiny-llama-deep-Q8_0", "tiny-llama-deep-Q4_K_M"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

INSTANTIATE_TEST_SUITE_P(Qwen3Models, PerplexityTest,
                         ::testing::Values("tiny-qwen3-f16", "tiny-qwen3-Q8_0",
                                           "tiny-qwen3-Q4_K_M"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(StoriesGreedyTest, TwoHundredTokensFromBosMatchLlama2c) {
  QUANT_REQUIRE_SHARED();
  const model::Model model = model::Model::load(test::model_path("stories260K-f32"));
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  // The model's metadata says 128 positions, but it was trained on 512 and the text needs 201.
  Session session(
      model, SessionOptions{.backend = BackendChoice::Cpu, .threads = 2, .context_length = 512});
  std::vector<int32_t> generated;
  std::span<const float> logits = session.forward(*tokenizer.bos_id());
  for (int i = 0; i < 200; ++i) {
    generated.push_back(test::argmax(logits));
    logits = session.forward(generated.back());
  }
  std::string text = tokenizer.decode(generated);
  // SentencePiece puts a space before the first word; printing the text drops it.
  if (text.starts_with(' ')) text.erase(0, 1);
  EXPECT_EQ(text, test::read_text_file(test::shared_path(
                      "reference/logits/stories260K-f32.greedy200-from-bos.txt")));
}

}  // namespace
}  // namespace quant
