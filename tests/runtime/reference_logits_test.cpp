// The CPU engine against llama.cpp's logits and greedy continuations for every llama-architecture
// model of the shared reference set: tokens fed one at a time, as the reference did.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/reference_data.h"
#include "runtime/session.h"

namespace quant {
namespace {

using test::argmax;

struct ModelCase {
  const char* name;
};

void PrintTo(const ModelCase& c, std::ostream* os) {
  *os << c.name;
}

class ReferenceLogitsTest : public ::testing::TestWithParam<ModelCase> {
 protected:
  static SessionOptions session_options() {
    return SessionOptions{.backend = BackendChoice::Cpu, .threads = 2, .context_length = 256};
  }
};

// Feeds the greedy choice back `n` times after `logits`, comparing each token with the reference's
// `greedy` object until the first near-tie.
void expect_greedy_matches(Session& session, std::span<const float> logits,
                           const nlohmann::json& greedy, double near_tie, const std::string& what) {
  const auto expected = greedy.at("tokens").get<std::vector<int32_t>>();
  const auto gaps = greedy.at("top1_minus_top2").get<std::vector<double>>();
  size_t compared = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (gaps[i] < near_tie) break;
    const int32_t token = argmax(logits);
    ASSERT_EQ(token, expected[i]) << what << ": greedy step " << i;
    ++compared;
    logits = session.forward(token);
  }
  std::printf("  %s: %zu of %zu greedy tokens compared (stopped at the first near-tie)\n",
              what.c_str(), compared, expected.size());
}

TEST_P(ReferenceLogitsTest, LogitsArgmaxAndGreedyMatchReference) {
  QUANT_REQUIRE_SHARED();
  const ModelCase& c = GetParam();
  const test::ReferenceTolerance tolerance = test::reference_tolerance(c.name);
  const test::ReferenceLogits ref = test::load_plain_reference(c.name);
  const model::Model model = model::Model::load(test::model_path(c.name));
  Session session(model, session_options());
  ASSERT_EQ(session.n_vocab(), ref.n_vocab);

  const auto sequence = ref.meta.at("sequence_S").get<std::vector<int32_t>>();
  const auto ref_argmax = ref.meta.at("argmax_per_position").get<std::vector<int32_t>>();
  const auto ref_gaps = ref.meta.at("top1_minus_top2_per_position").get<std::vector<double>>();
  double worst = 0.0;
  std::span<const float> logits;
  for (size_t pos = 0; pos < sequence.size(); ++pos) {
    logits = session.forward(sequence[pos]);
    const double relative = test::relative_error(logits, ref.row(pos));
    worst = std::max(worst, relative);
    EXPECT_LE(relative, tolerance.max_error) << "position " << pos;
    if (ref_gaps[pos] > tolerance.near_tie) {
      EXPECT_EQ(argmax(logits), ref_argmax[pos]) << "position " << pos;
    }
  }
  std::printf("  %s: max |ours - ref| / max |ref| over %zu positions = %.3g (limit %.3g)\n", c.name,
              sequence.size(), worst, tolerance.max_error);

  expect_greedy_matches(session, logits, ref.meta.at("greedy_from_S"), tolerance.near_tie,
                        "greedy_from_S");

  session.reset();
  for (const int32_t token : ref.meta.at("prompt_tokens").get<std::vector<int32_t>>())
    logits = session.forward(token);
  expect_greedy_matches(session, logits, ref.meta.at("greedy_from_prompt"), tolerance.near_tie,
                        "greedy_from_prompt");
}

INSTANTIATE_TEST_SUITE_P(
    LlamaModels, ReferenceLogitsTest,
    ::testing::Values(ModelCase{"stories260K-f32"}, ModelCase{"tiny-llama-f16"},
                      ModelCase{"tiny-llama-Q8_0"}, ModelCase{"tiny-llama-Q4_K_M"},
                      ModelCase{"tiny-llama-deep-f16"}, ModelCase{"tiny-llama-deep-Q8_0"},
                      ModelCase{"tiny-llama-deep-Q4_K_M"}),
    [](const ::testing::TestParamInfo<ModelCase>& param_info) {
      std::string name = param_info.param.name;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

INSTANTIATE_TEST_SUITE_P(Qwen3Models, ReferenceLogitsTest,
                         ::testing::Values(ModelCase{"tiny-qwen3-f16"},
                                           ModelCase{"tiny-qwen3-Q8_0"},
                                           ModelCase{"tiny-qwen3-Q4_K_M"}),
                         [](const ::testing::TestParamInfo<ModelCase>& param_info) {
                           std::string name = param_info.param.name;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace quant
