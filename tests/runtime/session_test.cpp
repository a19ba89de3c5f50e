// Session behaviour on a small random llama: context limits, token checks, batched == one at a
// time, prefill == the last batched row, truncation, reset, thread counts, and the observer; on the
// shared tiny models (quantized weights, qwen35's recurrent state) prefill, truncation and the
// state's size.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "common/shared_data.h"
#include "model/model.h"
#include "model/tiny_llama_gguf.h"
#include "runtime/kv_cache.h"
#include "runtime/session.h"

namespace quant {
namespace {

class SessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Wide enough that the FFN matrices are split over the threads.
    test::TinyLlamaSpec spec;
    spec.n_embd = 128;
    spec.n_ff = 640;
    model_ = new model::Model(model::Model::load(test::write_tiny_llama(spec, "session.gguf")));
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  static SessionOptions options(uint32_t threads = 2, uint32_t max_batch = 32) {
    return SessionOptions{.backend = BackendChoice::Cpu,
                          .threads = threads,
                          .context_length = 16,
                          .max_batch = max_batch};
  }
  static std::vector<float> run_one_at_a_time(Session& session,
                                              const std::vector<int32_t>& tokens) {
    std::vector<float> all;
    for (const int32_t t : tokens) {
      const std::span<const float> logits = session.forward(t);
      all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
  }
  static model::Model* model_;
};

model::Model* SessionTest::model_ = nullptr;

const std::vector<int32_t> kTokens = {1, 5, 9, 33, 2, 17, 39, 0, 12, 4};

TEST_F(SessionTest, RefusesTokensPastTheContext) {
  Session session(*model_, options());
  EXPECT_EQ(session.context_length(), 16u);
  for (int i = 0; i < 16; ++i) session.forward(i % 40);
  try {
    session.forward(1);
    FAIL() << "expected quant::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context full"), std::string::npos) << e.what();
  }
  EXPECT_THROW(session.forward_batch(std::vector<int32_t>{1}), Error);
  session.reset();
  EXPECT_EQ(session.position(), 0u);
  EXPECT_THROW(session.forward_batch(std::vector<int32_t>(17, 1)), Error);
  EXPECT_EQ(session.position(), 0u);  // nothing was fed
}

TEST_F(SessionTest, RefusesTokensOutsideTheVocabulary) {
  Session session(*model_, options());
  EXPECT_THROW(session.forward(40), Error);
  EXPECT_THROW(session.forward(-1), Error);
  EXPECT_EQ(session.position(), 0u);
}

TEST_F(SessionTest, DefaultContextIsTheModelsTrainedContext) {
  Session session(*model_, SessionOptions{.backend = BackendChoice::Cpu, .threads = 1});
  EXPECT_EQ(session.context_length(), 64u);
}

TEST_F(SessionTest, BatchedLogitsEqualOneAtATimeBitForBit) {
  Session single(*model_, options());
  const std::vector<float> expected = run_one_at_a_time(single, kTokens);
  // max_batch 4 splits the 10 tokens into steps of 4, 4 and 2.
  Session batched(*model_, options(2, 4));
  const std::span<const float> first = batched.forward_batch(std::span(kTokens).first(3));
  std::vector<float> got(first.begin(), first.end());
  const std::span<const float> rest = batched.forward_batch(std::span(kTokens).subspan(3));
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(batched.position(), kTokens.size());
  EXPECT_EQ(got, expected);
}

TEST_F(SessionTest, ResetAndThreadCountDoNotChangeResults) {
  Session two(*model_, options(2));
  const std::vector<float> first = run_one_at_a_time(two, kTokens);
  two.reset();
  EXPECT_EQ(run_one_at_a_time(two, kTokens), first);
  Session one(*model_, options(1));
  EXPECT_EQ(run_one_at_a_time(one, kTokens), first);
  Session three(*model_, options(3));
  EXPECT_EQ(run_one_at_a_time(three, kTokens), first);
}

TEST_F(SessionTest, ObserverSeesEveryValueInPlanOrder) {
  Session session(*model_, options());
  session.forward(3);
  std::vector<std::string> seen;
  std::vector<float> observed_logits;
  const std::span<const float> logits =
      session.forward(7, [&](const plan::Op& op, std::span<const float> value) {
        seen.push_back(plan::describe(op));
        EXPECT_EQ(value.size(), model_->plan().buffer(*plan::output_of(op)).n_floats);
        if (op.name == "logits") observed_logits.assign(value.begin(), value.end());
      });
  size_t expected_count = 0;
  for (const plan::Op& op : model_->plan().ops) expected_count += plan::output_of(op) ? 1 : 0;
  ASSERT_EQ(seen.size(), expected_count);
  EXPECT_EQ(seen.front(), "Embed 'embed'");
  EXPECT_EQ(seen[1], "layer 0 RmsNorm 'attn_norm'");
  EXPECT_EQ(seen.back(), "MatVec 'logits'");
  EXPECT_EQ(observed_logits, std::vector<float>(logits.begin(), logits.end()));
}

// max_batch 4 runs 10 tokens in steps of 4, 4 and 2, and 8 tokens in two full steps: the last
// token is the last row of a partial and of a full step.
TEST_F(SessionTest, PrefillEqualsTheLastBatchedRowBitForBit) {
  for (const bool exact : {false, true}) {
    for (const size_t n : {size_t{1}, size_t{8}, kTokens.size()}) {
      SessionOptions o = options(2, 4);
      o.exact_activations = exact;
      Session batched(*model_, o);
      Session prefilled(*model_, o);
      const std::span<const int32_t> tokens = std::span(kTokens).first(n);
      const std::span<const float> rows = batched.forward_batch(tokens);
      const std::vector<float> expected(rows.end() - batched.n_vocab(), rows.end());
      const std::span<const float> last = prefilled.prefill(tokens);
      EXPECT_EQ(std::vector<float>(last.begin(), last.end()), expected)
          << n << " tokens, exact " << exact;
      EXPECT_EQ(prefilled.position(), n);
      // The sequence goes on from there as after forward_batch().
      const std::span<const float> next_batched = batched.forward(3);
      const std::vector<float> next(next_batched.begin(), next_batched.end());
      const std::span<const float> next_prefilled = prefilled.forward(3);
      EXPECT_EQ(std::vector<float>(next_prefilled.begin(), next_prefilled.end()), next);
    }
  }
}

TEST_F(SessionTest, PrefillChecksItsTokens) {
  Session session(*model_, options());
  EXPECT_THROW(session.prefill({}), Error);
  EXPECT_THROW(session.prefill(std::vector<int32_t>{1, 40}), Error);
  EXPECT_THROW(session.prefill(std::vector<int32_t>(17, 1)), Error);
  EXPECT_EQ(session.position(), 0u);
}

// Going back to position 4 and feeding other tokens gives what a session that only ever saw
// kTokens[0..4) and those tokens gives.
TEST_F(SessionTest, TruncatedSequenceEqualsAFreshOne) {
  const std::vector<int32_t> continuation = {21, 8, 30};
  std::vector<int32_t> fresh_tokens(kTokens.begin(), kTokens.begin() + 4);
  fresh_tokens.insert(fresh_tokens.end(), continuation.begin(), continuation.end());
  Session fresh(*model_, options());
  const std::vector<float> all_fresh = run_one_at_a_time(fresh, fresh_tokens);
  const std::vector<float> expected(all_fresh.end() - 3 * fresh.n_vocab(), all_fresh.end());

  Session session(*model_, options());
  ASSERT_TRUE(session.can_truncate());
  run_one_at_a_time(session, kTokens);
  session.truncate(4);
  EXPECT_EQ(session.position(), 4u);
  EXPECT_EQ(run_one_at_a_time(session, continuation), expected);

  EXPECT_THROW(session.truncate(8), Error);  // past the end
  EXPECT_EQ(session.position(), 7u);
  session.truncate(7);  // where it is: nothing changes
  EXPECT_EQ(session.position(), 7u);
  session.truncate(0);
  EXPECT_EQ(session.position(), 0u);
  EXPECT_EQ(run_one_at_a_time(session, fresh_tokens), all_fresh);
}

TEST_F(SessionTest, CpuIgnoresTheDeviceIndex) {
  Session default_device(*model_, options());
  const std::vector<float> expected = run_one_at_a_time(default_device, kTokens);
  SessionOptions o = options();
  o.device = 3;
  Session other_device(*model_, o);
  EXPECT_EQ(run_one_at_a_time(other_device, kTokens), expected);
}

TEST_F(SessionTest, StateBytesOfALlama) {
  // Per position, K and V of n_kv_heads x head_dim values in each of the 2 layers.
  const model::Hparams& hp = model_->hparams();
  ASSERT_EQ(hp.n_layers, 2u);
  const uint64_t per_position = 2 * 2 * uint64_t{hp.n_kv_heads} * hp.head_dim;
  EXPECT_EQ(session_state_bytes(model_->plan(), 16, 4), per_position * 16 * 4);
  EXPECT_EQ(session_state_bytes(model_->plan(), 100, 2), per_position * 100 * 2);
}

// The shared tiny models: quantized weights (int8 activations in MatVec) and qwen35.
class SharedModelSessionTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override { QUANT_REQUIRE_SHARED(); }
  static model::Model load() {
    return model::Model::load(test::shared_path(std::string("data/models/") + GetParam()));
  }
  static SessionOptions options() {
    return SessionOptions{
        .backend = BackendChoice::Cpu, .threads = 2, .context_length = 48, .max_batch = 8};
  }
};

const std::vector<int32_t> kLongPrompt = {1,  100, 7,   42, 9, 300, 5,   77,  12, 3,  250, 61,
                                          88, 19,  400, 2,  6, 33,  101, 222, 17, 45, 70};

TEST_P(SharedModelSessionTest, PrefillEqualsTheLastBatchedRowBitForBit) {
  const model::Model model = load();
  Session batched(model, options());
  Session prefilled(model, options());
  const std::span<const float> rows = batched.forward_batch(kLongPrompt);
  const std::vector<float> expected(rows.end() - batched.n_vocab(), rows.end());
  const std::span<const float> last = prefilled.prefill(kLongPrompt);
  EXPECT_EQ(std::vector<float>(last.begin(), last.end()), expected);
}

TEST_P(SharedModelSessionTest, TruncateWhereTheStateAllows) {
  const model::Model model = load();
  const bool recurrent = !model.plan().states.empty();
  const std::span<const int32_t> prompt(kLongPrompt);
  Session fresh(model, options());
  const std::span<const float> fresh_logits = fresh.prefill(prompt.first(12));
  const std::vector<float> expected(fresh_logits.begin(), fresh_logits.end());

  Session session(model, options());
  EXPECT_EQ(session.can_truncate(), !recurrent);
  session.prefill(prompt);
  if (recurrent) {
    EXPECT_THROW(session.truncate(9), Error);
    EXPECT_EQ(session.position(), prompt.size());
    session.truncate(0);
    session.prefill(prompt.first(9));
  } else {
    session.truncate(9);
  }
  const std::span<const float> logits = session.prefill(prompt.subspan(9, 3));
  EXPECT_EQ(std::vector<float>(logits.begin(), logits.end()), expected);
}

INSTANTIATE_TEST_SUITE_P(Models, SharedModelSessionTest,
                         ::testing::Values("tiny-llama-Q4_K_M.gguf", "tiny-llama-Q8_0.gguf",
                                           "tiny-qwen35-f16.gguf"));

TEST(SessionStateBytesTest, CountsQwen35RecurrentStates) {
  QUANT_REQUIRE_SHARED();
  const model::Model model =
      model::Model::load(test::shared_path("data/models/tiny-qwen35-f16.gguf"));
  const model::Hparams& hp = model.hparams();
  // Two full-attention layers (3 and 7) with a KV cache; six Gated DeltaNet layers, each with a
  // convolution window of 3 x 512 floats and a delta state of 8 heads x 32 x 32 floats, whatever
  // the context.
  const uint64_t kv_per_position = 2 * 2 * uint64_t{hp.n_kv_heads} * hp.head_dim;
  const uint64_t states = 6 * (3 * 512 + 8 * 32 * 32) * sizeof(float);
  EXPECT_EQ(session_state_bytes(model.plan(), 64, 2), kv_per_position * 64 * 2 + states);
  EXPECT_EQ(session_state_bytes(model.plan(), 1, 4), kv_per_position * 4 + states);
}

}  // namespace
}  // namespace quant
