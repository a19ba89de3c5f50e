// The generation loop on stories260K (a 260K-parameter SentencePiece model): the llama2.c /
// llama.cpp greedy text from BOS, then each way generation ends, prompt reuse, cancellation and the
// text stream; and prompt reuse on tiny-qwen35, whose recurrent state cannot be truncated.

#include "runtime/generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "runtime/reference_data.h"
#include "tokenizer/utf8.h"

namespace quant {
namespace {

constexpr uint32_t kContext = 512;

class GeneratorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::shared_available()) return;
    model_ =
        std::make_unique<model::Model>(model::Model::load(test::model_path("stories260K-f32")));
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model_->file()));
  }
  static void TearDownTestSuite() {
    tokenizer_.reset();
    model_.reset();
  }

  void SetUp() override { QUANT_REQUIRE_SHARED(); }

  static std::unique_ptr<Session> make_session(uint32_t context = kContext) {
    return std::make_unique<Session>(
        *model_,
        SessionOptions{.backend = BackendChoice::Cpu, .threads = 2, .context_length = context});
  }

  static GenerationOptions greedy(std::optional<uint32_t> max_tokens) {
    GenerationOptions options;
    options.sampling.temperature = 0.0f;
    options.max_tokens = max_tokens;
    return options;
  }

  static std::vector<int32_t> bos() { return {tokenizer_->bos_id().value()}; }

  static std::string expected_greedy_text() {
    return test::read_text_file(
        test::shared_path("reference/logits/stories260K-f32.greedy200-from-bos.txt"));
  }

  static std::unique_ptr<model::Model> model_;
  static std::unique_ptr<Tokenizer> tokenizer_;
};

std::unique_ptr<model::Model> GeneratorTest::model_;
std::unique_ptr<Tokenizer> GeneratorTest::tokenizer_;

// llama.cpp's run: BOS, then 200 greedy tokens, streamed as text.
TEST_F(GeneratorTest, GreedyFromBosReproducesTheReferenceText) {
  const auto session = make_session();
  Generator generator(*session, *tokenizer_);
  std::string streamed;
  const GenerationResult result =
      generator.generate(bos(), greedy(200), [&](std::string_view text) { streamed += text; });
  EXPECT_EQ(result.text, expected_greedy_text());
  EXPECT_EQ(streamed, result.text);
  EXPECT_EQ(result.finish_reason, FinishReason::Length);
  EXPECT_EQ(result.stats.prompt_tokens, 1u);
  EXPECT_EQ(result.stats.generated_tokens, 200u);
  EXPECT_EQ(result.tokens.size(), 200u);
  EXPECT_GT(result.stats.decode_tokens_per_second(), 0.0);
  EXPECT_GT(result.stats.prefill_tokens_per_second(), 0.0);
  // BOS and every sampled token but the last were evaluated.
  EXPECT_EQ(generator.evaluated().size(), 200u);
  EXPECT_EQ(session->position(), 200u);
}

TEST_F(GeneratorTest, MaxTokensEndsWithLengthAndAPrefixOfTheText) {
  const auto session = make_session();
  Generator generator(*session, *tokenizer_);
  const GenerationResult result = generator.generate(bos(), greedy(12));
  EXPECT_EQ(result.finish_reason, FinishReason::Length);
  EXPECT_EQ(result.tokens.size(), 12u);
  ASSERT_FALSE(result.text.empty());
  EXPECT_TRUE(expected_greedy_text().starts_with(result.text)) << result.text;
}

TEST_F(GeneratorTest, ZeroMaxTokensOnlyEvaluatesThePrompt) {
  const auto session = make_session();
  Generator generator(*session, *tokenizer_);
  const std::vector<int32_t> prompt = tokenizer_->encode("Once upon a time", true, false);
  const GenerationResult result = generator.generate(prompt, greedy(0));
  EXPECT_EQ(result.finish_reason, FinishReason::Length);
  EXPECT_TRUE(result.tokens.empty());
  EXPECT_TRUE(result.text.empty());
  EXPECT_EQ(session->position(), prompt.size());
}

// The stop string and all after it are cut; text split over several tokens is held back, not lost.
TEST_F(GeneratorTest, StopStringCutsTheText) {
  const std::string expected = expected_greedy_text();
  const std::string stop = "girl named";
  const size_t stop_at = expected.find(stop);
  ASSERT_NE(stop_at, std::string::npos);

  const auto session = make_session();
  Generator generator(*session, *tokenizer_);
  GenerationOptions options = greedy(200);
  options.stop_strings = {"no such text", stop};
  std::string streamed;
  const GenerationResult result =
      generator.generate(bos(), options, [&](std::string_view text) { streamed += text; });
  EXPECT_EQ(result.finish_reason, FinishReason::Stop);
  EXPECT_EQ(result.text, expected.substr(0, stop_at));
  EXPECT_EQ(streamed, result.text);
  EXPECT_LT(result.tokens.size(), 200u);
}

// stories260K never ends a story with EOS (its stories were separated by BOS), so this tokenizer
// reads the model's metadata but names "▁Lily" as the end-of-turn token: generation must stop where
// the tokenizer says, not at a built-in id.
Tokenizer tokenizer_ending_at(const gguf::GgufFile& file, std::string_view end_of_turn_text) {
  VocabularySpec spec;
  spec.model = TokenizerModel::SentencePiece;
  spec.tokens = file.get_array_strings("tokenizer.ggml.tokens");
  spec.scores = file.get_array_f32("tokenizer.ggml.scores");
  spec.token_types = file.get_array_i64("tokenizer.ggml.token_type");
  spec.bos_id = file.get_i64("tokenizer.ggml.bos_token_id");
  spec.eos_id = file.get_i64("tokenizer.ggml.eos_token_id");
  const auto found = std::find(spec.tokens.begin(), spec.tokens.end(), end_of_turn_text);
  EXPECT_NE(found, spec.tokens.end());
  spec.eot_id = found - spec.tokens.begin();
  return Tokenizer::from_spec(spec);
}

TEST_F(GeneratorTest, EndOfGenerationTokenStopsUnlessIgnored) {
  const Tokenizer tokenizer = tokenizer_ending_at(model_->file(), "\xE2\x96\x81Lily");
  const int32_t end_of_turn = tokenizer.eot_id().value();
  const std::string expected = expected_greedy_text();
  const auto session = make_session();
  Generator generator(*session, tokenizer);

  const GenerationResult stopped = generator.generate(bos(), greedy(200));
  EXPECT_EQ(stopped.finish_reason, FinishReason::Stop);
  ASSERT_FALSE(stopped.tokens.empty());
  EXPECT_EQ(stopped.tokens.back(), end_of_turn);
  EXPECT_EQ(std::count(stopped.tokens.begin(), stopped.tokens.end(), end_of_turn), 1);
  EXPECT_EQ(stopped.text, expected.substr(0, expected.find(" Lily")));

  GenerationOptions options = greedy(static_cast<uint32_t>(stopped.tokens.size()) + 20);
  options.ignore_eos = true;
  generator.reset();
  const GenerationResult ignored = generator.generate(bos(), options);
  EXPECT_EQ(ignored.finish_reason, FinishReason::Length);
  ASSERT_EQ(ignored.tokens.size(), stopped.tokens.size() + 20);
  EXPECT_TRUE(std::equal(stopped.tokens.begin(), stopped.tokens.end(), ignored.tokens.begin()));
  EXPECT_TRUE(ignored.text.starts_with(stopped.text));
  EXPECT_GT(ignored.text.size(), stopped.text.size());
}

TEST_F(GeneratorTest, FullContextEndsWithContext) {
  constexpr uint32_t kSmallContext = 24;
  const auto session = make_session(kSmallContext);
  Generator generator(*session, *tokenizer_);
  GenerationOptions options = greedy(std::nullopt);
  options.ignore_eos = true;
  const GenerationResult result = generator.generate(bos(), options);
  EXPECT_EQ(result.finish_reason, FinishReason::Context);
  EXPECT_EQ(session->position(), kSmallContext);
  // BOS and all sampled tokens but the last fill the context.
  EXPECT_EQ(result.tokens.size(), kSmallContext);
  EXPECT_TRUE(expected_greedy_text().starts_with(result.text));
}

TEST_F(GeneratorTest, PromptLongerThanTheContextFailsBeforeAnyWork) {
  constexpr uint32_t kSmallContext = 8;
  const auto session = make_session(kSmallContext);
  Generator generator(*session, *tokenizer_);
  const std::vector<int32_t> prompt =
      tokenizer_->encode("Once upon a time, there was a little girl named Lily.", true, false);
  ASSERT_GT(prompt.size(), kSmallContext);
  EXPECT_THROW(generator.generate(prompt, greedy(4)), Error);
  EXPECT_EQ(session->position(), 0u);
  // A prompt that exactly fills it still gives one token.
  const GenerationResult result =
      generator.generate(std::span<const int32_t>(prompt).first(kSmallContext), greedy(4));
  EXPECT_EQ(result.finish_reason, FinishReason::Context);
  EXPECT_EQ(result.tokens.size(), 1u);
}

TEST_F(GeneratorTest, BadPromptsAndOptionsFail) {
  const auto session = make_session();
  Generator generator(*session, *tokenizer_);
  EXPECT_THROW(generator.generate({}, greedy(4)), Error);
  const std::vector<int32_t> outside = {tokenizer_->bos_id().value(),
                                        static_cast<int32_t>(session->n_vocab())};
  EXPECT_THROW(generator.generate(outside, greedy(4)), Error);
  GenerationOptions empty_stop = greedy(4);
  empty_stop.stop_strings = {""};
  EXPECT_THROW(generator.generate(bos(), empty_stop), Error);
  GenerationOptions bad_sampling = greedy(4);
  bad_sampling.sampling.top_p = 2.0f;
  EXPECT_THROW(generator.generate(bos(), bad_sampling), Error);
  EXPECT_THROW(generator.check(bos(), bad_sampling), Error);
  EXPECT_THROW(generator.check(bos(), empty_stop), Error);
  EXPECT_NO_THROW(generator.check(bos(), greedy(4)));
  EXPECT_EQ(session->position(), 0u);
}

TEST_F(GeneratorTest, CancellationStopsBeforeTheNextToken) {
  const auto session = make_session();
  Generator generator(*session, *tokenizer_);
  int polls = 0;
  // Poll 1 is before the (single-chunk) prefill, polls 2 and 3 before tokens 1 and 2.
  const GenerationResult result =
      generator.generate(bos(), greedy(50), {}, [&] { return ++polls > 3; });
  EXPECT_EQ(result.finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(result.tokens.size(), 2u);
  EXPECT_EQ(polls, 4);

  generator.reset();
  const GenerationResult before_prefill =
      generator.generate(bos(), greedy(50), {}, [] { return true; });
  EXPECT_EQ(before_prefill.finish_reason, FinishReason::Cancelled);
  EXPECT_TRUE(before_prefill.tokens.empty());
  EXPECT_EQ(session->position(), 0u);
}

// A prompt that continues what was evaluated only evaluates the new tokens, and generates what a
// fresh session would; one that departs from it keeps the common start.
TEST_F(GeneratorTest, ReusesTheEvaluatedPrefix) {
  const auto session = make_session();
  Generator generator(*session, *tokenizer_);
  const std::vector<int32_t> first_prompt = tokenizer_->encode("Once upon a time", true, false);
  const GenerationResult first = generator.generate(first_prompt, greedy(10));

  std::vector<int32_t> second_prompt = first_prompt;
  second_prompt.insert(second_prompt.end(), first.tokens.begin(), first.tokens.end());
  const std::vector<int32_t> more = tokenizer_->encode(" Then", false, false);
  second_prompt.insert(second_prompt.end(), more.begin(), more.end());
  const GenerationResult second = generator.generate(second_prompt, greedy(10));
  EXPECT_EQ(second.stats.reused_tokens, first_prompt.size() + first.tokens.size() - 1);

  const auto fresh_session = make_session();
  Generator fresh(*fresh_session, *tokenizer_);
  const GenerationResult expected = fresh.generate(second_prompt, greedy(10));
  EXPECT_EQ(second.tokens, expected.tokens);
  EXPECT_EQ(second.text, expected.text);

  const std::vector<int32_t> other_prompt = tokenizer_->encode("The dog", true, false);
  const GenerationResult other = generator.generate(other_prompt, greedy(10));
  EXPECT_EQ(other.stats.reused_tokens, 1u);  // BOS
  const GenerationResult other_fresh = fresh.generate(other_prompt, greedy(10));
  EXPECT_EQ(other.tokens, other_fresh.tokens);
}

// A chat turn that edits earlier text: the session goes back to where the prompts part and
// generates what a fresh session would.
TEST_F(GeneratorTest, EditedPromptKeepsTheCommonStart) {
  const auto session = make_session();
  Generator generator(*session, *tokenizer_);
  const std::vector<int32_t> first_prompt =
      tokenizer_->encode("Once upon a time, there was a little girl named Lily.", true, false);
  const GenerationResult first = generator.generate(first_prompt, greedy(10));
  const std::vector<int32_t> edited =
      tokenizer_->encode("Once upon a time, there was a big dog.", true, false);
  const size_t common = static_cast<size_t>(
      std::mismatch(first_prompt.begin(), first_prompt.end(), edited.begin(), edited.end()).first -
      first_prompt.begin());
  ASSERT_GT(common, 3u);
  ASSERT_LT(common, edited.size());

  const GenerationResult second = generator.generate(edited, greedy(10));
  EXPECT_EQ(second.stats.reused_tokens, common);
  EXPECT_EQ(session->position(), edited.size() + 9);
  const auto fresh_session = make_session();
  Generator fresh(*fresh_session, *tokenizer_);
  const GenerationResult expected = fresh.generate(edited, greedy(10));
  EXPECT_EQ(second.tokens, expected.tokens);
  EXPECT_EQ(second.text, expected.text);

  // The same prompt again: all but its last token are kept, whose logits are needed again.
  const GenerationResult again = generator.generate(edited, greedy(10));
  EXPECT_EQ(again.stats.reused_tokens, edited.size() - 1);
  EXPECT_EQ(again.tokens, expected.tokens);
}

// qwen35's recurrent state cannot go back: a prompt that departs from what was evaluated starts
// over, and still generates what a fresh session would; one that continues it is reused.
TEST_F(GeneratorTest, RecurrentModelStartsOverWhereThePromptDeparts) {
  const model::Model model =
      model::Model::load(test::shared_path("data/models/tiny-qwen35-f16.gguf"));
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  const SessionOptions options{
      .backend = BackendChoice::Cpu, .threads = 2, .context_length = 64, .max_batch = 4};
  Session session(model, options);
  ASSERT_FALSE(session.can_truncate());
  Generator generator(session, tokenizer);
  const std::vector<int32_t> first_prompt = {1, 100, 7, 42, 9, 300};
  const GenerationResult first = generator.generate(first_prompt, greedy(5));

  std::vector<int32_t> continued = first_prompt;
  continued.insert(continued.end(), first.tokens.begin(), first.tokens.end());
  continued.push_back(12);
  const GenerationResult second = generator.generate(continued, greedy(5));
  EXPECT_EQ(second.stats.reused_tokens, first_prompt.size() + first.tokens.size() - 1);

  const std::vector<int32_t> edited = {1, 100, 7, 250, 61};
  const GenerationResult third = generator.generate(edited, greedy(5));
  EXPECT_EQ(third.stats.reused_tokens, 0u);

  for (const auto& [prompt, result] : {std::pair{continued, second}, std::pair{edited, third}}) {
    Session fresh_session(model, options);
    Generator fresh(fresh_session, tokenizer);
    EXPECT_EQ(result.tokens, fresh.generate(prompt, greedy(5)).tokens);
  }
}

// Random tokens (byte tokens among them) still stream as non-empty pieces of valid UTF-8.
TEST_F(GeneratorTest, StreamsOnlyValidUtf8) {
  const auto session = make_session();
  Generator generator(*session, *tokenizer_);
  GenerationOptions options;
  options.sampling =
      SamplerOptions{.temperature = 3.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 7};
  options.max_tokens = 300;
  options.ignore_eos = true;
  std::string streamed;
  size_t pieces = 0;
  const GenerationResult result = generator.generate(bos(), options, [&](std::string_view text) {
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(utf8::first_invalid_offset(text), std::nullopt);
    streamed += text;
    ++pieces;
  });
  EXPECT_EQ(streamed, result.text);
  EXPECT_GT(pieces, 100u);
  const bool any_byte_token =
      std::any_of(result.tokens.begin(), result.tokens.end(),
                  [&](int32_t t) { return tokenizer_->token_type(t) == TokenType::Byte; });
  EXPECT_TRUE(any_byte_token) << "the sample should exercise byte tokens";
}

TEST(FinishReasonTest, Names) {
  EXPECT_EQ(finish_reason_name(FinishReason::Stop), "stop");
  EXPECT_EQ(finish_reason_name(FinishReason::Length), "length");
  EXPECT_EQ(finish_reason_name(FinishReason::Context), "context");
  EXPECT_EQ(finish_reason_name(FinishReason::Cancelled), "cancelled");
}

}  // namespace
}  // namespace quant
