// Greedy decoding through the session: greedy_token() (ties, NaN, logits that choose nothing),
// Session::decode_greedy against forward() and greedy_token() token by token on each backend this
// build has (positions, stops, the context's room), and the generation loop on the Vulkan backend,
// whose greedy sampling chooses on the device, against the same loop on the host.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/shared_data.h"
#include "model/model.h"
#include "model/tiny_llama_gguf.h"
#include "runtime/generator.h"
#include "runtime/reference_data.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"

#if QUANT_HAVE_VULKAN
#include "backend/vulkan/context.h"
#endif

namespace quant {
namespace {

constexpr float kInfinity = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(GreedyTokenTest, TakesTheFirstLargestAndSkipsNaN) {
  EXPECT_EQ(greedy_token(std::vector<float>{0.5f}), 0);
  EXPECT_EQ(greedy_token(std::vector<float>{1.0f, 3.0f, 2.0f, 3.0f}), 1);
  EXPECT_EQ(greedy_token(std::vector<float>{kNaN, -1.0f, kNaN, -0.5f}), 3);
  EXPECT_EQ(greedy_token(std::vector<float>{-kInfinity, -2.0f, -kInfinity}), 1);
  EXPECT_EQ(greedy_token(std::vector<float>{-1.0f, -0.0f, 0.0f}), 1);
}

TEST(GreedyTokenTest, RefusesLogitsThatChooseNothing) {
  EXPECT_THROW(greedy_token(std::vector<float>{}), Error);
  EXPECT_THROW(greedy_token(std::vector<float>{kNaN, kNaN}), Error);
  EXPECT_THROW(greedy_token(std::vector<float>{-kInfinity, kNaN}), Error);
  EXPECT_THROW(greedy_token(std::vector<float>{1.0f, kInfinity}), Error);
}

bool vulkan_available() {
#if QUANT_HAVE_VULKAN
  return !vulkan::list_devices().empty();
#else
  return false;
#endif
}

std::vector<BackendChoice> backends() {
  std::vector<BackendChoice> choices = {BackendChoice::Cpu};
  if (vulkan_available()) choices.push_back(BackendChoice::Vulkan);
  return choices;
}

std::string backend_name(BackendChoice choice) {
  return choice == BackendChoice::Cpu ? "cpu" : "vulkan";
}

constexpr uint32_t kContext = 24;

class SessionGreedyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    test::TinyLlamaSpec spec;
    spec.n_vocab = 64;
    model_ = std::make_unique<model::Model>(
        model::Model::load(test::write_tiny_llama(spec, "session_greedy.gguf")));
  }
  static void TearDownTestSuite() { model_.reset(); }

  static std::unique_ptr<Session> make_session(BackendChoice backend) {
    return std::make_unique<Session>(
        *model_, SessionOptions{.backend = backend, .threads = 1, .context_length = kContext});
  }

  // forward() and greedy_token(), from position 0.
  static std::vector<int32_t> host_choices(Session& session, int32_t first, uint32_t count) {
    session.reset();
    std::vector<int32_t> tokens;
    int32_t token = first;
    for (uint32_t i = 0; i < count; ++i)
      tokens.push_back(token = greedy_token(session.forward(token)));
    session.reset();
    return tokens;
  }

  static std::unique_ptr<model::Model> model_;
};

std::unique_ptr<model::Model> SessionGreedyTest::model_;

TEST_F(SessionGreedyTest, ChoosesAsForwardAndCountsPositions) {
  for (BackendChoice backend : backends()) {
    SCOPED_TRACE(backend_name(backend));
    const auto session = make_session(backend);
    const std::vector<int32_t> expected = host_choices(*session, 3, kContext);

    // Stops after 5; position() has counted each token fed before the callback saw its choice.
    std::vector<int32_t> tokens;
    session->decode_greedy(3, kContext, [&](int32_t token) {
      tokens.push_back(token);
      EXPECT_EQ(session->position(), tokens.size());
      return tokens.size() < 5;
    });
    EXPECT_EQ(session->position(), 5u);
    // Then on from there, to the end of the context.
    session->decode_greedy(tokens.back(), kContext - 5, [&](int32_t token) {
      tokens.push_back(token);
      return true;
    });
    EXPECT_EQ(tokens, expected);
    EXPECT_EQ(session->position(), kContext);

    session->reset();
    session->decode_greedy(3, 0, [](int32_t) -> bool { throw std::logic_error("no token"); });
    EXPECT_EQ(session->position(), 0u);
    EXPECT_THROW(session->decode_greedy(3, kContext + 1, [](int32_t) { return true; }), Error);
    EXPECT_THROW(session->decode_greedy(64, 1, [](int32_t) { return true; }), Error);
    EXPECT_EQ(session->position(), 0u);
  }
}

// The generation loop with greedy sampling on the Vulkan backend (each choice on the device, the
// next token queued before the loop sees it) against the host's choices, made with
// Session::forward() and greedy_token().
class VulkanGenerationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    QUANT_REQUIRE_SHARED();
    if (!vulkan_available()) GTEST_SKIP() << "skipped: no Vulkan device";
  }
};

TEST_F(VulkanGenerationTest, GreedyTextAsTheHostChoosesIt) {
  const model::Model model = model::Model::load(test::model_path("stories260K-f32"));
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  Session session(model, SessionOptions{.backend = BackendChoice::Vulkan, .context_length = 128});
  const std::vector<int32_t> prompt = tokenizer.encode("Once upon a time", true, false);

  // The host's choices after the prompt.
  std::vector<int32_t> expected;
  int32_t token = greedy_token(session.prefill(prompt));
  for (expected.push_back(token); expected.size() < 40;)
    expected.push_back(token = greedy_token(session.forward(token)));

  Generator generator(session, tokenizer);
  GenerationOptions options;
  options.sampling.temperature = 0.0f;
  options.max_tokens = 40;
  const GenerationResult whole = generator.generate(prompt, options);
  EXPECT_EQ(whole.tokens, expected);
  EXPECT_EQ(whole.finish_reason, FinishReason::Length);
  EXPECT_EQ(session.position(), prompt.size() + 39);

  // A stop string in the middle (a token is already in flight when the text shows it), then the
  // next call continues from the evaluated tokens.
  generator.reset();
  std::string text;
  for (size_t i = 0; i < 12; ++i) text += tokenizer.decode(std::span(&expected[i], 1));
  options.stop_strings = {text.substr(text.size() - 3)};
  const GenerationResult stopped = generator.generate(prompt, options);
  EXPECT_EQ(stopped.finish_reason, FinishReason::Stop);
  ASSERT_LE(stopped.tokens.size(), 12u);
  ASSERT_FALSE(stopped.tokens.empty());
  EXPECT_EQ(stopped.tokens,
            std::vector<int32_t>(expected.begin(), expected.begin() + stopped.tokens.size()));
  EXPECT_EQ(session.position(), prompt.size() + stopped.tokens.size() - 1);

  std::vector<int32_t> longer = prompt;
  longer.insert(longer.end(), stopped.tokens.begin(), stopped.tokens.end());
  options.stop_strings.clear();
  options.max_tokens = static_cast<uint32_t>(expected.size() - stopped.tokens.size());
  const GenerationResult continued = generator.generate(longer, options);
  EXPECT_EQ(continued.stats.reused_tokens, longer.size() - 1);
  EXPECT_EQ(continued.tokens,
            std::vector<int32_t>(expected.begin() + stopped.tokens.size(), expected.end()));
}

}  // namespace
}  // namespace quant
