// Session behaviour on a small random llama: context limits, token checks, batched == one at a
// time, reset, thread counts, and the observer.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "model/model.h"
#include "model/tiny_llama_gguf.h"
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

}  // namespace
}  // namespace quant
